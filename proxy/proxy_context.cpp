// Pools are created lazily, one per (database, user) actually used.
#include "proxy/proxy_context.hpp"

namespace pgsluice::proxy {

ProxyContext::ProxyContext(asio::any_io_executor io_executor, std::shared_ptr<const config::Config> config)
    : io_executor_(std::move(io_executor)), snapshot_(std::make_shared<const Snapshot>(std::move(config))) {}

std::shared_ptr<Pool> ProxyContext::pool_for(const Snapshot& snapshot, const config::Database& database,
                                             const std::string& user) {
    std::lock_guard lock(pools_mutex_);
    auto key = std::make_pair(database.name, user);
    auto it = pools_.find(key);
    if (it != pools_.end()) return it->second;

    ServerTarget target;
    target.host = database.host;
    target.port = database.port;
    target.dbname = database.dbname.empty() ? database.name : database.dbname;
    if (database.user) {  // a forced login user with its own password
        target.user = *database.user;
        if (database.password && database.password->kind == config::Secret::Kind::plain)
            target.password = database.password->value;
        else if (const auto* forced = snapshot.credentials.find(*database.user); forced && forced->plaintext)
            target.password = forced->plaintext;
    } else {
        target.user = user;
        if (const auto* credentials = snapshot.credentials.find(user)) {
            target.password = credentials->plaintext;
            if (!credentials->plaintext && credentials->verifier)
                target.server_key = credentials->verifier->server_key;
        }
    }
    auto settings = database.pool;
    if (auto u = snapshot.config->users.find(user); u != snapshot.config->users.end() && u->second.pool_mode)
        settings.pool_mode = *u->second.pool_mode;
    if (auto u = snapshot.config->users.find(user);
        u != snapshot.config->users.end() && u->second.max_user_connections)
        settings.max_user_connections = *u->second.max_user_connections;
    auto pool = std::make_shared<Pool>(database.name, user, std::move(target), settings, io_executor_, server_ids_);
    // max_db_connections and max_user_connections count across pools: one shared budget each.
    auto& database_budget = database_budgets_[database.name];
    if (!database_budget) database_budget = std::make_shared<ConnectionBudget>("database " + database.name);
    auto& user_budget = user_budgets_[user];
    if (!user_budget) user_budget = std::make_shared<ConnectionBudget>("user " + user);
    pool->share_budgets(database_budget, user_budget);
    pools_.emplace(key, pool);
    return pool;
}

void ProxyContext::maintain_pools() {
    std::vector<std::shared_ptr<Pool>> pools;
    {
        std::lock_guard lock(pools_mutex_);
        for (auto& [key, pool] : pools_) pools.push_back(pool);
    }
    for (auto& pool : pools) pool->maintain();
}

void ProxyContext::close_idle_servers() {
    std::lock_guard lock(pools_mutex_);
    for (auto& [key, pool] : pools_) pool->close_idle();
}

}  // namespace pgsluice::proxy
