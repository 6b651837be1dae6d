// Worst-case server connections of a config, with the arithmetic spelled out for people.
#include "config/backend_demand.hpp"

namespace pgsluice::config {

std::string BackendDemand::address() const { return host + ":" + std::to_string(port); }

std::vector<BackendDemand> worst_case_connections(const Config& config) {
    std::vector<BackendDemand> servers;
    for (const auto& [name, database] : config.databases) {
        BackendDemand* server = nullptr;
        for (auto& s : servers)
            if (s.host == database.host && s.port == database.port) server = &s;
        if (!server) {
            servers.push_back({database.host, database.port, 0, {}});
            server = &servers.back();
        }
        // Every configured user may open a pool to every database; a forced user is one pool.
        const std::uint64_t users = database.user ? 1 : config.users.size();
        const std::uint64_t per_user = database.pool.pool_size + database.pool.reserve_pool_size;
        std::uint64_t total = users * per_user;
        std::string line = name + ": " + std::to_string(users) + (database.user ? " forced user" : " user(s)") +
                           " x (" + std::to_string(database.pool.pool_size) + " pool_size + " +
                           std::to_string(database.pool.reserve_pool_size) + " reserve_pool_size) = " +
                           std::to_string(total);
        if (database.pool.max_db_connections > 0 && database.pool.max_db_connections < total) {
            total = database.pool.max_db_connections;
            line += ", capped by max_db_connections at " + std::to_string(total);
        }
        server->connections += total;
        server->arithmetic.push_back(std::move(line));
    }
    return servers;
}

}  // namespace pgsluice::config
