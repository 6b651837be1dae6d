// `pgsluice check --connect`: log in to every backend server a config names, the way the
// pools would, and ask it how many connections it has room for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgsluice::proxy {

struct BackendCapacity {
    std::string host;
    std::uint16_t port = 0;
    std::string error;  // set when the server could not be reached or asked
    std::uint64_t max_connections = 0;
    std::uint64_t superuser_reserved_connections = 0;
    std::uint64_t other_connections = 0;  // client backends now, not counting the probe
    std::uint64_t available() const {
        const auto reserved = superuser_reserved_connections + other_connections;
        return max_connections > reserved ? max_connections - reserved : 0;
    }
};

// One probe per distinct host:port, logged in as the first database on it (and its forced
// user, or the first configured user with a plaintext password). Blocks; bounded by each
// database's server_connect_timeout.
std::vector<BackendCapacity> probe_backends(const config::Config& config);

}  // namespace pgsluice::proxy
