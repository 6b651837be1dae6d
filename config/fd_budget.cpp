// The file descriptor budget of a config (see fd_budget.hpp).
#include "config/fd_budget.hpp"

#include "config/backend_demand.hpp"

namespace pgsluice::config {

FdBudget fd_budget(const Config& config) {
    FdBudget budget;
    budget.clients = config.limits.max_client_conn;
    for (const auto& demand : worst_case_connections(config)) budget.servers += demand.connections;
    budget.reserved = kReservedFds;
    return budget;
}

std::optional<std::string> fd_budget_problem(const FdBudget& budget, std::uint64_t fd_limit) {
    if (budget.needed() <= fd_limit) return std::nullopt;
    return "the open file limit (RLIMIT_NOFILE) is " + std::to_string(fd_limit) + " but this config may need " +
           std::to_string(budget.needed()) + " file descriptors (limits.max_client_conn " +
           std::to_string(budget.clients) + " + " + std::to_string(budget.servers) + " server connections + " +
           std::to_string(budget.reserved) + " for listeners and the rest); clients beyond the limit wait in the " +
           "listen queue; raise LimitNOFILE= / ulimit -n or lower max_client_conn";
}

}  // namespace pgsluice::config
