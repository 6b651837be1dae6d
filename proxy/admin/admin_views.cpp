// Building each SHOW table. Numbers are int8 columns, everything else text.
#include "proxy/admin/admin_views.hpp"

#include <ctime>
#include <map>

#include "version.hpp"

namespace pgsluice::proxy {

namespace {

using protocol::type_oid::kInt8;
using protocol::type_oid::kText;
using Row = std::vector<std::optional<std::string>>;

std::string num(std::uint64_t v) { return std::to_string(v); }
std::string num(std::int64_t v) { return std::to_string(v); }
std::string num(std::uint32_t v) { return std::to_string(v); }
std::string num(std::uint16_t v) { return std::to_string(v); }

std::string timestamp(WallClock::time_point t) {
    const std::time_t seconds = WallClock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &utc);
    return buffer;
}

WallClock::time_point to_wall(Clock::time_point t) {
    return WallClock::now() - std::chrono::duration_cast<WallClock::duration>(Clock::now() - t);
}

std::string duration(Duration d) {
    const auto ms = d.count();
    if (ms == 0) return "0";
    if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
    if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

ResultTable table(std::initializer_list<std::pair<const char*, std::uint32_t>> columns) {
    ResultTable t;
    for (const auto& [name, oid] : columns) t.columns.push_back({name, oid});
    return t;
}

// Clients per (database, user) by state, from the registry.
struct ClientCounts {
    std::uint64_t active = 0;  // linked to a server, or idle between transactions
    std::uint64_t waiting = 0;
};
std::map<std::pair<std::string, std::string>, ClientCounts> count_clients(const std::vector<ClientSnapshot>& clients) {
    std::map<std::pair<std::string, std::string>, ClientCounts> counts;
    for (const auto& c : clients) {
        auto& n = counts[{c.database, c.user}];
        ++(c.state == ClientState::waiting ? n.waiting : n.active);
    }
    return counts;
}

// PoolStats summed over every pool of a database, with the age of the oldest.
struct StatsSum {
    PoolTotals totals;
    double seconds = 0;
};
std::map<std::string, StatsSum> sum_stats(ProxyContext& context) {
    std::map<std::string, StatsSum> sums;
    for (const auto& [name, database] : context.snapshot()->config->databases) sums[name];
    const auto now = Clock::now();
    for (auto& pool : context.pools()) {
        auto& sum = sums[pool->database()];
        sum.totals += pool->stats().totals();
        sum.seconds = std::max(sum.seconds, std::chrono::duration<double>(now - pool->created_at()).count());
    }
    return sums;
}

// Averages over the pools' lifetime (PgBouncer's are per stats_period): rates per second,
// durations per transaction or query.
Row averages(const StatsSum& sum) {
    const auto& s = sum.totals;
    auto rate = [&](std::uint64_t total) {
        return num(static_cast<std::uint64_t>(sum.seconds > 0 ? total / sum.seconds : 0));
    };
    auto per = [](std::uint64_t total, std::uint64_t n) { return num(n ? total / n : 0); };
    return {rate(s.transactions),
            rate(s.queries),
            rate(s.bytes_received),
            rate(s.bytes_sent),
            per(s.transaction_time_us, s.transactions),
            per(s.query_time_us, s.queries),
            per(s.wait_time_us, s.transactions)};
}
Row totals(const StatsSum& sum) {
    const auto& s = sum.totals;
    return {num(s.transactions),        num(s.queries),       num(s.bytes_received), num(s.bytes_sent),
            num(s.transaction_time_us), num(s.query_time_us), num(s.wait_time_us)};
}

const config::Database* find_database(const config::Config& config, const std::string& name) {
    auto it = config.databases.find(name);
    return it == config.databases.end() ? nullptr : &it->second;
}

}  // namespace

void ResultTable::append_to(std::string& out) const {
    protocol::append_row_description(out, columns);
    for (const auto& row : rows) protocol::append_data_row(out, row);
    protocol::append_command_complete(out, "SHOW");
}

ResultTable show_pools(ProxyContext& context) {
    auto t = table({{"database", kText}, {"user", kText}, {"cl_active", kInt8}, {"cl_waiting", kInt8},
                    {"sv_active", kInt8}, {"sv_idle", kInt8}, {"sv_used", kInt8}, {"sv_tested", kInt8},
                    {"sv_login", kInt8}, {"maxwait", kInt8}, {"maxwait_us", kInt8}, {"pool_mode", kText}});
    const auto clients = count_clients(context.clients().list());
    for (auto& pool : context.pools()) {
        const auto view = pool->view(false);
        ClientCounts c;
        if (auto it = clients.find({pool->database(), pool->user()}); it != clients.end()) c = it->second;
        const auto maxwait_us = static_cast<std::uint64_t>(view.maxwait_us);
        t.rows.push_back({pool->database(), pool->user(), num(c.active), num(c.waiting), num(view.active),
                          num(view.idle), num(view.used), num(std::uint32_t{0}), num(view.login),
                          num(maxwait_us / 1000000), num(maxwait_us % 1000000),
                          std::string(config::to_string(pool->settings().pool_mode))});
    }
    return t;
}

ResultTable show_stats(ProxyContext& context) {
    auto t = table({{"database", kText},       {"total_xact_count", kInt8}, {"total_query_count", kInt8},
                    {"total_received", kInt8}, {"total_sent", kInt8},       {"total_xact_time", kInt8},
                    {"total_query_time", kInt8}, {"total_wait_time", kInt8}, {"avg_xact_count", kInt8},
                    {"avg_query_count", kInt8}, {"avg_recv", kInt8},        {"avg_sent", kInt8},
                    {"avg_xact_time", kInt8},  {"avg_query_time", kInt8},   {"avg_wait_time", kInt8}});
    for (const auto& [name, sum] : sum_stats(context)) {
        Row row{name};
        for (auto& v : totals(sum)) row.push_back(std::move(v));
        for (auto& v : averages(sum)) row.push_back(std::move(v));
        t.rows.push_back(std::move(row));
    }
    return t;
}

namespace {
ResultTable stats_subset(ProxyContext& context, bool want_totals) {
    auto t = table({{"database", kText}, {"xact_count", kInt8}, {"query_count", kInt8}, {"bytes_received", kInt8},
                    {"bytes_sent", kInt8}, {"xact_time", kInt8}, {"query_time", kInt8}, {"wait_time", kInt8}});
    for (const auto& [name, sum] : sum_stats(context)) {
        Row row{name};
        for (auto& v : want_totals ? totals(sum) : averages(sum)) row.push_back(std::move(v));
        t.rows.push_back(std::move(row));
    }
    return t;
}
}  // namespace

ResultTable show_stats_totals(ProxyContext& context) { return stats_subset(context, true); }
ResultTable show_stats_averages(ProxyContext& context) { return stats_subset(context, false); }

ResultTable show_clients(ProxyContext& context) {
    auto t = table({{"type", kText},         {"user", kText},         {"database", kText},     {"replication", kText},
                    {"state", kText},        {"addr", kText},         {"port", kInt8},         {"connect_time", kText},
                    {"request_time", kText}, {"wait", kInt8},         {"wait_us", kInt8},      {"close_needed", kInt8},
                    {"link", kText},         {"tls", kText},          {"application_name", kText},
                    {"prepared_statements", kInt8}, {"id", kInt8}});
    const auto now = WallClock::now();
    for (const auto& c : context.clients().list()) {
        std::uint64_t wait_us = 0;
        if (c.state == ClientState::waiting)
            wait_us = static_cast<std::uint64_t>(
                std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(now - c.state_since).count()));
        t.rows.push_back({"C", c.user, c.database, "none", to_string(c.state), c.addr, num(c.port),
                          timestamp(c.connect_time), timestamp(c.state_since), num(wait_us / 1000000),
                          num(wait_us % 1000000), num(std::uint32_t{0}),
                          c.server_id ? std::optional<std::string>(num(c.server_id)) : std::nullopt, "",
                          c.application_name, num(c.prepared_statements), num(c.id)});
    }
    return t;
}

ResultTable show_servers(ProxyContext& context) {
    auto t = table({{"type", kText},         {"user", kText},        {"database", kText},     {"replication", kText},
                    {"state", kText},        {"addr", kText},        {"port", kInt8},         {"local_addr", kText},
                    {"local_port", kInt8},   {"connect_time", kText}, {"request_time", kText}, {"wait", kInt8},
                    {"wait_us", kInt8},      {"close_needed", kInt8}, {"link", kText},         {"remote_pid", kInt8},
                    {"tls", kText},          {"application_name", kText}, {"prepared_statements", kInt8},
                    {"id", kInt8}});
    const auto snapshot = context.snapshot();
    std::map<std::uint64_t, ClientSnapshot> holders;  // server id -> the client holding it
    for (auto& c : context.clients().list())
        if (c.state == ClientState::active && c.server_id) holders.emplace(c.server_id, c);
    for (auto& pool : context.pools()) {
        const auto* database = find_database(*snapshot->config, pool->database());
        const std::string login_user = database && database->user ? *database->user : pool->user();
        for (const auto& s : pool->view(true).servers) {
            auto holder = holders.find(s.id);
            const bool linked = std::string_view(s.state) == "active" && holder != holders.end();
            t.rows.push_back({"S", login_user, pool->database(), "none", std::string(s.state),
                              s.host_port->host, num(s.host_port->port),
                              s.local_addr, num(s.local_port), timestamp(to_wall(s.created_at)),
                              timestamp(to_wall(s.released_at)), "0", "0", num(std::uint32_t{s.close_needed}),
                              linked ? std::optional<std::string>(num(holder->second.id)) : std::nullopt, num(s.remote_pid),
                              "", linked ? holder->second.application_name : std::string(),
                              num(static_cast<std::uint64_t>(s.prepared_statements)), num(s.id)});
        }
    }
    return t;
}

ResultTable show_databases(ProxyContext& context) {
    auto t = table({{"name", kText},          {"host", kText},           {"port", kInt8},
                    {"database", kText},      {"force_user", kText},     {"pool_size", kInt8},
                    {"min_pool_size", kInt8}, {"reserve_pool", kInt8},   {"server_lifetime", kInt8},
                    {"pool_mode", kText},     {"max_connections", kInt8}, {"current_connections", kInt8},
                    {"paused", kInt8},        {"disabled", kInt8}});
    std::map<std::string, std::uint64_t> connections;
    for (auto& pool : context.pools()) {
        const auto view = pool->view(false);
        connections[pool->database()] += view.active + view.idle + view.used + view.login;
    }
    for (const auto& [name, db] : context.snapshot()->config->databases) {
        const auto& p = db.pool;
        t.rows.push_back({name, db.host, num(db.port), db.dbname.empty() ? name : db.dbname,
                          db.user ? std::optional<std::string>(*db.user) : std::nullopt, num(p.pool_size),
                          num(p.min_pool_size), num(p.reserve_pool_size),
                          num(static_cast<std::int64_t>(p.server_lifetime.count() / 1000)),
                          std::string(config::to_string(p.pool_mode)), num(p.max_db_connections),
                          num(connections[name]), num(std::uint32_t{context.is_paused(name)}), "0"});
    }
    return t;
}

ResultTable show_users(ProxyContext& context) {
    auto t = table({{"name", kText}, {"pool_mode", kText}, {"max_user_connections", kInt8},
                    {"current_connections", kInt8}, {"current_client_connections", kInt8}});
    const auto snapshot = context.snapshot();
    std::map<std::string, std::uint64_t> servers, clients;
    for (auto& pool : context.pools()) {
        const auto view = pool->view(false);
        servers[pool->user()] += view.active + view.idle + view.used + view.login;
    }
    for (const auto& c : context.clients().list()) ++clients[c.user];
    for (const auto& [name, user] : snapshot->config->users) {
        const auto max = user.max_user_connections.value_or(snapshot->config->defaults.max_user_connections);
        t.rows.push_back({name,
                          user.pool_mode ? std::optional<std::string>(config::to_string(*user.pool_mode)) : std::nullopt,
                          num(max), num(servers[name]), num(clients[name])});
    }
    return t;
}

ResultTable show_config(ProxyContext& context) {
    auto t = table({{"key", kText}, {"value", kText}, {"default", kText}, {"changeable", kText}});
    const auto snapshot = context.snapshot();
    const auto& c = *snapshot->config;
    const config::Config d;  // the built-in defaults
    auto add = [&](const char* key, std::string value, std::string fallback, bool changeable) {
        t.rows.push_back({key, std::move(value), std::move(fallback), changeable ? "yes" : "no"});
    };
    auto users = [](const std::vector<std::string>& list) {
        std::string out;
        for (const auto& u : list) out += (out.empty() ? "" : ",") + u;
        return out;
    };
    // Top-level keys by their YAML path; pool settings and limits by their (PgBouncer) names.
    // Users' and databases' passwords are secrets and are not listed at all.
    add("listen.address", c.listen.address, d.listen.address, false);
    add("listen.port", num(c.listen.port), num(d.listen.port), false);
    add("listen.unix_socket_dir", c.listen.unix_socket_dir.value_or(""), "", false);
    add("listen.unix_socket_mode", config::mode_string(c.listen.unix_socket_mode), config::mode_string(d.listen.unix_socket_mode), false);
    add("workers", c.workers ? num(c.workers) : "auto", "auto", false);
    add("worker_spread_above", num(c.worker_spread_above), num(d.worker_spread_above), true);
    add("auth_type", config::to_string(c.auth_type), config::to_string(d.auth_type), true);
    add("admin.users", users(c.admin.users), "", true);
    add("metrics.enabled", c.metrics.enabled ? "true" : "false", d.metrics.enabled ? "true" : "false", false);
    add("metrics.address", c.metrics.address, d.metrics.address, false);
    add("metrics.port", num(c.metrics.port), num(d.metrics.port), false);
    add("max_client_conn", num(c.limits.max_client_conn), num(d.limits.max_client_conn), true);
    add("client_login_timeout", duration(c.limits.client_login_timeout), duration(d.limits.client_login_timeout), true);
    add("client_write_timeout", duration(c.limits.client_write_timeout), duration(d.limits.client_write_timeout), true);
    add("log_level", c.log_level, d.log_level, true);
    add("log_format", c.log_format, d.log_format, false);
    add("shutdown_timeout", duration(c.shutdown_timeout), duration(d.shutdown_timeout), true);
    add("stats_period", duration(c.stats_period), duration(d.stats_period), true);
    add("watch_config", c.watch_config ? "true" : "false", d.watch_config ? "true" : "false", true);
    const auto& p = c.defaults;
    const auto& q = d.defaults;
    add("pool_mode", config::to_string(p.pool_mode), config::to_string(q.pool_mode), true);
    add("pool_size", num(p.pool_size), num(q.pool_size), true);
    add("min_pool_size", num(p.min_pool_size), num(q.min_pool_size), true);
    add("reserve_pool_size", num(p.reserve_pool_size), num(q.reserve_pool_size), true);
    add("reserve_pool_timeout", duration(p.reserve_pool_timeout), duration(q.reserve_pool_timeout), true);
    add("max_db_connections", num(p.max_db_connections), num(q.max_db_connections), true);
    add("max_user_connections", num(p.max_user_connections), num(q.max_user_connections), true);
    add("server_connect_timeout", duration(p.server_connect_timeout), duration(q.server_connect_timeout), true);
    add("query_wait_timeout", duration(p.query_wait_timeout), duration(q.query_wait_timeout), true);
    add("query_timeout", duration(p.query_timeout), duration(q.query_timeout), true);
    add("client_idle_timeout", duration(p.client_idle_timeout), duration(q.client_idle_timeout), true);
    add("idle_transaction_timeout", duration(p.idle_transaction_timeout), duration(q.idle_transaction_timeout), true);
    add("server_idle_timeout", duration(p.server_idle_timeout), duration(q.server_idle_timeout), true);
    add("server_lifetime", duration(p.server_lifetime), duration(q.server_lifetime), true);
    add("server_check_delay", duration(p.server_check_delay), duration(q.server_check_delay), true);
    add("server_check_query", p.server_check_query, q.server_check_query, true);
    add("server_reset_query", p.server_reset_query, q.server_reset_query, true);
    return t;
}

ResultTable show_lists(ProxyContext& context) {
    auto t = table({{"list", kText}, {"items", kInt8}});
    const auto snapshot = context.snapshot();
    const auto pools = context.pools();
    std::uint64_t servers = 0;
    for (auto& pool : pools) {
        const auto view = pool->view(false);
        servers += view.active + view.idle + view.used + view.login;
    }
    const std::uint64_t clients = context.clients().list().size();
    const std::uint64_t admitted = context.admitted_clients();
    auto add = [&](const char* list, std::uint64_t items) { t.rows.push_back({list, num(items)}); };
    add("databases", snapshot->config->databases.size());
    add("users", snapshot->config->users.size());
    add("pools", pools.size());
    add("free_clients", 0);  // pgsluice keeps no free lists
    add("used_clients", clients);
    add("login_clients", admitted > clients ? admitted - clients : 0);
    add("free_servers", 0);
    add("used_servers", servers);
    add("dns_names", 0);
    add("dns_zones", 0);
    add("dns_queries", 0);
    add("dns_pending", 0);
    return t;
}

ResultTable show_version() {
    auto t = table({{"version", kText}});
    t.rows.push_back({std::string("pgsluice ") + kVersion});
    return t;
}

}  // namespace pgsluice::proxy
