// The most server connections a config can open, per backend server (host:port): what
// `pgsluice check --connect` compares with each server's max_connections. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgsluice::config {

struct BackendDemand {
    std::string host;
    std::uint16_t port = 0;
    std::uint64_t connections = 0;  // for one pgsluice instance
    // One line per database on this server: "app: 2 user(s) x (10 + 0 reserve) = 20".
    std::vector<std::string> arithmetic;
    std::string address() const;  // "host:port"
};

// Per server: the sum over its databases of min(max_db_connections or unbounded, sum over
// users of (pool_size + reserve_pool_size)). A database with a forced `user` logs in as that
// one user only. Servers in order of first appearance by database name.
std::vector<BackendDemand> worst_case_connections(const Config& config);

}  // namespace pgsluice::config
