// The process's open file limit: raised at startup from the soft to the hard limit, as
// PostgreSQL and PgBouncer users expect (systemd's default soft limit is 1024).
#pragma once

#include <cstdint>
#include <string>

namespace pgsluice::proxy {

struct FdLimit {
    std::uint64_t before = 0;  // the soft limit as the process started
    std::uint64_t soft = 0;    // the soft limit now
    std::uint64_t hard = 0;
    std::string error;         // why raising failed, when it did
};

// Raises the soft RLIMIT_NOFILE to the hard one (RLIM_INFINITY is capped at the kernel's
// nr_open). Never lowers it.
FdLimit raise_fd_limit();

// What raise_fd_limit() would reach in this process (the hard limit), without changing it.
std::uint64_t reachable_fd_limit();

}  // namespace pgsluice::proxy
