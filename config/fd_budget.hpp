// How many file descriptors a config may need at its worst: every client it admits
// (limits.max_client_conn), every server connection its pools may open, and a few for
// listeners, the metrics endpoint, epoll and logs. Compared with RLIMIT_NOFILE at startup
// and by `pgsluice check`. Pure: the caller reads the limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace pgsluice::config {

struct FdBudget {
    std::uint64_t clients = 0;   // limits.max_client_conn
    std::uint64_t servers = 0;   // the worst case of every pool, summed over backends
    std::uint64_t reserved = 0;  // listeners, metrics, epoll, eventfds, logs, cancel requests
    std::uint64_t needed() const { return clients + servers + reserved; }
};

inline constexpr std::uint64_t kReservedFds = 64;

FdBudget fd_budget(const Config& config);

// A sentence with the arithmetic when `fd_limit` (the soft RLIMIT_NOFILE) is too small for
// the budget, nullopt when it fits.
std::optional<std::string> fd_budget_problem(const FdBudget& budget, std::uint64_t fd_limit);

}  // namespace pgsluice::config
