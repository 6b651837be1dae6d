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
    auto pool = std::make_shared<Pool>(database.name, user, std::move(target), settings, io_executor_, server_ids_);
    pools_.emplace(key, pool);
    if (all_paused_ || paused_databases_.count(database.name)) pool->pause();
    return pool;
}

std::shared_ptr<Pool> ProxyContext::find_pool(const std::string& database, const std::string& user) {
    std::lock_guard lock(pools_mutex_);
    auto it = pools_.find(std::make_pair(database, user));
    return it == pools_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Pool>> ProxyContext::pools(const std::string& database) {
    std::lock_guard lock(pools_mutex_);
    std::vector<std::shared_ptr<Pool>> out;
    for (auto& [key, pool] : pools_)
        if (database.empty() || key.first == database) out.push_back(pool);
    return out;
}

bool ProxyContext::is_paused(const std::string& database) {
    std::lock_guard lock(pools_mutex_);
    return all_paused_ || paused_databases_.count(database) > 0;
}

void ProxyContext::set_paused(const std::string& database, bool paused) {
    std::lock_guard lock(pools_mutex_);
    if (database.empty()) {
        all_paused_ = paused;
        if (!paused) paused_databases_.clear();
    } else if (paused) {
        paused_databases_.insert(database);
    } else {
        paused_databases_.erase(database);
    }
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
