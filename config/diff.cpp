// Config diff: one Change per key whose value differs. The list of keys that need a
// restart is the honest one: what the daemon binds or sizes once at startup.
#include "config/diff.hpp"

namespace pgsluice::config {

namespace {

std::string show(const std::string& value) { return value.empty() ? "\"\"" : value; }
std::string show(bool value) { return value ? "true" : "false"; }
std::string show(std::uint32_t value) { return std::to_string(value); }
std::string show(std::uint16_t value) { return std::to_string(value); }
std::string show(PoolMode value) { return to_string(value); }
std::string show(AuthType value) { return to_string(value); }
std::string show(TlsMode value) { return to_string(value); }
std::string show(Duration value) {
    const auto ms = value.count();
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}
template <class T>
std::string show(const std::optional<T>& value) {
    return value ? show(*value) : std::string("(unset)");
}
std::string show_rule(const HbaRule& rule) {
    return std::string("{") + to_string(rule.type) + " " + rule.database + " " + rule.user + " " + rule.address + " " +
           to_string(rule.method) + "}";
}
std::string show_rules(const std::vector<HbaRule>& rules) {
    std::string out = "[";
    for (std::size_t i = 0; i < rules.size(); ++i) out += (i ? ", " : "") + show_rule(rules[i]);
    return out + "]";
}
std::string show_workers(unsigned workers) { return workers ? std::to_string(workers) : std::string("auto"); }
std::string show_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
    return out + "]";
}

bool same_secret(const std::optional<Secret>& a, const std::optional<Secret>& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a || (a->value == b->value && a->kind == b->kind);
}

class Differ {
public:
    std::vector<Change> changes;

    template <class T>
    void value(const std::string& path, const T& before, const T& after, bool needs_restart = false) {
        if (before == after) return;
        changes.push_back({path, show(before) + " -> " + show(after), needs_restart});
    }
    void text(const std::string& path, std::string before, std::string after, bool needs_restart = false) {
        if (before == after) return;
        changes.push_back({path, before + " -> " + after, needs_restart});
    }
    void secret(const std::string& path, const std::optional<Secret>& before, const std::optional<Secret>& after) {
        if (same_secret(before, after)) return;
        if (!before) changes.push_back({path, "password added", false});
        else if (!after) changes.push_back({path, "password removed", false});
        else changes.push_back({path, "password changed", false});
    }

    void pool(const std::string& prefix, const PoolSettings& a, const PoolSettings& b) {
        value(prefix + "pool_mode", a.pool_mode, b.pool_mode);
        value(prefix + "pool_size", a.pool_size, b.pool_size);
        value(prefix + "min_pool_size", a.min_pool_size, b.min_pool_size);
        value(prefix + "reserve_pool_size", a.reserve_pool_size, b.reserve_pool_size);
        value(prefix + "reserve_pool_timeout", a.reserve_pool_timeout, b.reserve_pool_timeout);
        value(prefix + "max_db_connections", a.max_db_connections, b.max_db_connections);
        value(prefix + "max_user_connections", a.max_user_connections, b.max_user_connections);
        value(prefix + "server_connect_timeout", a.server_connect_timeout, b.server_connect_timeout);
        value(prefix + "query_wait_timeout", a.query_wait_timeout, b.query_wait_timeout);
        value(prefix + "query_timeout", a.query_timeout, b.query_timeout);
        value(prefix + "client_idle_timeout", a.client_idle_timeout, b.client_idle_timeout);
        value(prefix + "idle_transaction_timeout", a.idle_transaction_timeout, b.idle_transaction_timeout);
        value(prefix + "server_idle_timeout", a.server_idle_timeout, b.server_idle_timeout);
        value(prefix + "server_lifetime", a.server_lifetime, b.server_lifetime);
        value(prefix + "server_check_delay", a.server_check_delay, b.server_check_delay);
        value(prefix + "server_check_query", a.server_check_query, b.server_check_query);
        value(prefix + "server_reset_query", a.server_reset_query, b.server_reset_query);
        value(prefix + "max_prepared_statements", a.max_prepared_statements, b.max_prepared_statements);
        value(prefix + "max_client_prepared_statements", a.max_client_prepared_statements,
              b.max_client_prepared_statements);
    }

    // `prefix` is "" at the top level and "databases.NAME." for a database: the keys are the same.
    void server_side(const std::string& prefix, const ServerTls& a, const ServerTls& b, const ServerLogin& la,
                     const ServerLogin& lb, const AuthLookup& qa, const AuthLookup& qb) {
        value(prefix + "server_tls_sslmode", a.sslmode, b.sslmode);
        value(prefix + "server_tls_ca_file", a.ca_file, b.ca_file);
        value(prefix + "server_tls_cert_file", a.cert_file, b.cert_file);
        value(prefix + "server_tls_key_file", a.key_file, b.key_file);
        value(prefix + "server_allow_cleartext_password", la.allow_cleartext, lb.allow_cleartext);
        value(prefix + "server_allow_md5_password", la.allow_md5, lb.allow_md5);
        value(prefix + "auth_user", qa.auth_user, qb.auth_user);
        value(prefix + "auth_query", qa.auth_query, qb.auth_query);
    }

    void database(const std::string& prefix, const Database& a, const Database& b) {
        value(prefix + "auth_type", a.auth_type, b.auth_type);
        server_side(prefix, a.server_tls, b.server_tls, a.server_login, b.server_login, a.auth_lookup, b.auth_lookup);
        value(prefix + "host", a.host, b.host);
        value(prefix + "port", a.port, b.port);
        value(prefix + "dbname", a.dbname, b.dbname);
        value(prefix + "user", a.user, b.user);
        secret(prefix + "password", a.password, b.password);
        pool(prefix, a.pool, b.pool);
    }

    void user(const std::string& prefix, const User& a, const User& b) {
        secret(prefix + "password", a.password, b.password);
        value(prefix + "pool_mode", a.pool_mode, b.pool_mode);
        value(prefix + "max_user_connections", a.max_user_connections, b.max_user_connections);
        value(prefix + "auth_type", a.auth_type, b.auth_type);
    }

    // Entries only in one map are "added" / "removed"; entries in both are compared.
    template <class Map, class Compare>
    void entries(const std::string& section, const Map& a, const Map& b, Compare compare) {
        for (const auto& [name, before] : a) {
            auto it = b.find(name);
            if (it == b.end()) changes.push_back({section + "." + name, "removed", false});
            else compare(section + "." + name + ".", before, it->second);
        }
        for (const auto& [name, after] : b)
            if (!a.count(name)) changes.push_back({section + "." + name, "added", false});
    }
};

}  // namespace

std::string Change::format() const {
    return path + ": " + description + (needs_restart ? " (needs a restart, not applied live)" : "");
}

std::vector<Change> diff_configs(const Config& a, const Config& b) {
    Differ d;
    // Bound or sized once at startup: sockets, threads, the metrics listener, the log sink.
    d.value("listen.address", a.listen.address, b.listen.address, true);
    d.value("listen.port", a.listen.port, b.listen.port, true);
    d.value("listen.unix_socket_dir", a.listen.unix_socket_dir, b.listen.unix_socket_dir, true);
    d.text("listen.unix_socket_mode", mode_string(a.listen.unix_socket_mode), mode_string(b.listen.unix_socket_mode), true);
    d.text("workers", show_workers(a.workers), show_workers(b.workers), true);
    d.value("metrics.enabled", a.metrics.enabled, b.metrics.enabled, true);
    d.value("metrics.address", a.metrics.address, b.metrics.address, true);
    d.value("metrics.port", a.metrics.port, b.metrics.port, true);
    d.value("log_format", a.log_format, b.log_format, true);
    // Read from the current snapshot whenever they are used: live.
    d.value("auth_type", a.auth_type, b.auth_type);
    d.text("admin.users", show_list(a.admin.users), show_list(b.admin.users));
    d.text("admin.stats_users", show_list(a.admin.stats_users), show_list(b.admin.stats_users));
    d.value("allow_plain_without_tls", a.allow_plain_without_tls, b.allow_plain_without_tls);
    d.text("hba", show_rules(a.hba), show_rules(b.hba));
    // TLS files are re-read on every reload (a rotated certificate at the same path shows no
    // change here but is picked up all the same).
    d.value("client_tls_sslmode", a.client_tls.sslmode, b.client_tls.sslmode);
    d.value("client_tls_cert_file", a.client_tls.cert_file, b.client_tls.cert_file);
    d.value("client_tls_key_file", a.client_tls.key_file, b.client_tls.key_file);
    d.value("client_tls_ca_file", a.client_tls.ca_file, b.client_tls.ca_file);
    d.text("client_tls_protocols", tls_protocols_string(a.client_tls.protocols),
           tls_protocols_string(b.client_tls.protocols));
    d.value("client_tls_ciphers", a.client_tls.ciphers, b.client_tls.ciphers);
    d.server_side("", a.server_tls, b.server_tls, a.server_login, b.server_login, a.auth_lookup, b.auth_lookup);
    d.value("auth_query_cache_ttl", a.auth_query_cache_ttl, b.auth_query_cache_ttl);
    d.value("server_scram_max_iterations", a.server_scram_max_iterations, b.server_scram_max_iterations);
    d.value("limits.auth_failure_delay", a.limits.auth_failure_delay, b.limits.auth_failure_delay);
    d.value("limits.max_client_conn", a.limits.max_client_conn, b.limits.max_client_conn);
    d.value("limits.client_login_timeout", a.limits.client_login_timeout, b.limits.client_login_timeout);
    d.value("limits.client_write_timeout", a.limits.client_write_timeout, b.limits.client_write_timeout);
    d.value("log_level", a.log_level, b.log_level);
    d.value("worker_spread_above", a.worker_spread_above, b.worker_spread_above);
    d.value("shutdown_timeout", a.shutdown_timeout, b.shutdown_timeout);
    d.value("stats_period", a.stats_period, b.stats_period);
    d.value("watch_config", a.watch_config, b.watch_config);
    // Applied to sockets opened or accepted after the reload; open ones keep theirs.
    d.value("tcp_keepalive", a.tcp.keepalive, b.tcp.keepalive);
    d.value("tcp_keepidle", a.tcp.keepidle, b.tcp.keepidle);
    d.value("tcp_keepintvl", a.tcp.keepintvl, b.tcp.keepintvl);
    d.value("tcp_keepcnt", a.tcp.keepcnt, b.tcp.keepcnt);
    d.value("tcp_user_timeout", a.tcp.user_timeout, b.tcp.user_timeout);
    d.pool("defaults.", a.defaults, b.defaults);
    d.entries("databases", a.databases, b.databases,
              [&](const std::string& prefix, const Database& x, const Database& y) { d.database(prefix, x, y); });
    d.entries("users", a.users, b.users,
              [&](const std::string& prefix, const User& x, const User& y) { d.user(prefix, x, y); });
    return std::move(d.changes);
}

}  // namespace pgsluice::config
