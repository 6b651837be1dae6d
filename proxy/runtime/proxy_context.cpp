// Pools are created lazily, one per (database, user) actually used. A reload swaps the
// snapshot and brings the pools that exist up to date; pools for removed databases or
// users stay until their clients leave (new logins to them are refused by the session).
#include "proxy/runtime/proxy_context.hpp"
#include "proxy/forward/write_deadline.hpp"
#include "proxy/io/tcp_options.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pgsluice::proxy {

namespace {

std::shared_ptr<const tls::TlsContexts> load_tls_or_throw(const config::Config& config);

// The database's server, TLS and login settings: what every login to it shares.
ServerTarget server_of(const Snapshot& snapshot, const config::Database& database) {
    ServerTarget target;
    target.allow_cleartext = database.server_login.allow_cleartext;
    target.allow_md5 = database.server_login.allow_md5;
    target.scram_max_iterations = static_cast<int>(snapshot.config->server_scram_max_iterations);
    target.tls = database.server_tls;
    target.tls_context = snapshot.tls->server_facing(database.name);
    target.host = database.host;
    target.port = database.port;
    target.dbname = database.dbname.empty() ? database.name : database.dbname;
    return target;
}

// Where and as whom a pool for (database, user) logs in, from one snapshot.
// `looked_up`: for a user the config does not list, what auth_query found (the ServerKey of
// a SCRAM verifier, or an MD5 hash).
ServerTarget target_for(const Snapshot& snapshot, const config::Database& database, const std::string& user,
                        const AuthQueryCache::Secrets& looked_up = {}) {
    ServerTarget target = server_of(snapshot, database);
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
        } else {
            target.server_key = looked_up.server_key;
            target.md5_hash = looked_up.md5_hash;
        }
    }
    return target;
}

config::PoolSettings settings_for(const Snapshot& snapshot, const config::Database& database, const std::string& user) {
    auto settings = database.pool;
    if (auto u = snapshot.config->users.find(user); u != snapshot.config->users.end() && u->second.pool_mode)
        settings.pool_mode = *u->second.pool_mode;
    if (auto u = snapshot.config->users.find(user);
        u != snapshot.config->users.end() && u->second.max_user_connections)
        settings.max_user_connections = *u->second.max_user_connections;
    return settings;
}

}  // namespace

ServerTarget auth_user_target(const Snapshot& snapshot, const config::Database& database) {
    ServerTarget target = server_of(snapshot, database);
    target.user = database.auth_lookup.auth_user.value_or("");
    if (const auto* auth_user = snapshot.credentials.find(target.user)) target.password = auth_user->plaintext;
    return target;
}

namespace {
std::shared_ptr<const tls::TlsContexts> load_tls_or_throw(const config::Config& config) {
    auto loaded = tls::TlsContexts::load(config);
    if (loaded.contexts) return loaded.contexts;
    std::string message;
    for (const auto& error : loaded.errors) message += (message.empty() ? "" : "; ") + error;
    throw std::runtime_error(message);
}
}  // namespace

Snapshot::Snapshot(std::shared_ptr<const config::Config> c, std::shared_ptr<const tls::TlsContexts> t)
    : config(std::move(c)),
      credentials(*config),
      access_rules(config->hba),
      tls(t ? std::move(t) : load_tls_or_throw(*config)) {}

ProxyContext::ProxyContext(Workers& workers, std::shared_ptr<const config::Config> config,
                           std::shared_ptr<const tls::TlsContexts> tls)
    : workers_(workers), snapshot_(std::make_shared<const Snapshot>(std::move(config), std::move(tls))) {
    set_server_tcp_options(snapshot_->config->tcp);
    set_client_write_timeout(snapshot_->config->limits.client_write_timeout);
}

std::shared_ptr<Pool> ProxyContext::pool_for(const Snapshot& snapshot, const config::Database& database,
                                             const std::string& user,
                                             std::optional<protocol::scram::Key> looked_up_server_key) {
    std::lock_guard lock(pools_mutex_);
    auto key = std::make_pair(database.name, user);
    auto it = pools_.find(key);
    if (it != pools_.end()) return it->second;

    // A reload may have swapped the snapshot since this session read it; build from the
    // current one so the new pool does not start with outdated settings.
    auto current = std::atomic_load(&snapshot_);
    const Snapshot* source = &snapshot;
    const config::Database* entry = &database;
    if (auto found = current->config->databases.find(database.name); found != current->config->databases.end()) {
        source = current.get();
        entry = &found->second;
    }
    auto looked_up = auth_query_cache_.secrets(database.name, user);
    if (looked_up_server_key) looked_up.server_key = looked_up_server_key;
    auto pool = std::make_shared<Pool>(entry->name, user, target_for(*source, *entry, user, looked_up),
                                       settings_for(*source, *entry, user), workers_.control().get_executor(), server_ids_);
    // max_db_connections and max_user_connections count across pools: one shared budget each.
    auto& database_budget = database_budgets_[database.name];
    if (!database_budget) database_budget = std::make_shared<ConnectionBudget>("database " + database.name);
    auto& user_budget = user_budgets_[user];
    if (!user_budget) user_budget = std::make_shared<ConnectionBudget>("user " + user);
    pool->share_budgets(database_budget, user_budget);
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

void ProxyContext::replace_config(std::shared_ptr<const config::Config> config,
                                  std::shared_ptr<const tls::TlsContexts> tls) {
    auto snapshot = std::make_shared<const Snapshot>(std::move(config), std::move(tls));
    // Under the pools' lock, so that pool_for cannot create a pool from the old snapshot
    // after this loop has passed it.
    std::lock_guard lock(pools_mutex_);
    std::atomic_store(&snapshot_, std::shared_ptr<const Snapshot>(snapshot));
    set_server_tcp_options(snapshot->config->tcp);  // for servers connected from now on
    set_client_write_timeout(snapshot->config->limits.client_write_timeout);  // for writes that block from now on
    const auto& databases = snapshot->config->databases;
    const auto& users = snapshot->config->users;
    for (auto& [key, pool] : pools_) {
        const auto& [database_name, user] = key;
        auto database = databases.find(database_name);
        // A user not listed may still log in: through trust, or looked up with auth_query.
        const bool user_known = users.count(user) || snapshot->config->auth_type == config::AuthType::trust ||
                                (database != databases.end() && database->second.auth_lookup.auth_user);
        if (database == databases.end() || !user_known) {
            // Removed: its clients drain (they keep their servers until they leave); the
            // servers nobody uses are closed now, and none are kept warm any more.
            auto settings = pool->settings();
            settings.min_pool_size = 0;
            pool->update(settings);
            pool->close_idle();
            continue;
        }
        pool->update(settings_for(*snapshot, database->second, user));
        pool->retarget(target_for(*snapshot, database->second, user, auth_query_cache_.secrets(database_name, user)));
    }
}

std::size_t ProxyContext::wake_idle_clients() {
    // The flag first: a session that checks it after this misses no wake-up; one already
    // waiting is interrupted by the posts below.
    drain_ended_ = true;
    return clients_registry_.interrupt_all();
}

void ProxyContext::maintain_pools() {
    std::vector<std::shared_ptr<Pool>> pools;
    {
        std::lock_guard lock(pools_mutex_);
        for (auto& [key, pool] : pools_) pools.push_back(pool);
    }
    for (auto& pool : pools) pool->maintain();
}

StatsTotals ProxyContext::stats_totals() {
    StatsTotals totals;
    for (auto& pool : pools("")) {
        auto& stats = pool->stats();
        totals.counters += stats.totals();
        const auto counts = pool->counts();
        totals.clients += static_cast<std::uint64_t>(std::max<std::int64_t>(0, stats.clients.load()));
        totals.clients_waiting += counts.waiting;
        totals.servers += counts.open;
        totals.servers_idle += counts.idle;
    }
    return totals;
}

void ProxyContext::close_idle_servers() {
    std::lock_guard lock(pools_mutex_);
    for (auto& [key, pool] : pools_) pool->close_idle();
}

}  // namespace pgsluice::proxy
