// The config schema: which keys exist where, their types, ranges and defaults, and the
// checks across fields. Everything wrong is reported, in file order, before anything runs.
#include "config/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/evp.h>

#include "config/access_rules.hpp"
#include "config/yaml_reader.hpp"

namespace pgsluice::config {

namespace {

const std::vector<std::string> kTopKeys = {"listen",     "workers",          "worker_spread_above", "auth_type",
                                           "admin",      "metrics",          "limits",              "log_level",
                                           "log_format", "shutdown_timeout", "stats_period",        "watch_config",
                                           "defaults",   "databases",        "users",
                                           "allow_plain_without_tls", "hba", "auth_user", "auth_query",
                                           "auth_query_cache_ttl", "server_scram_max_iterations",
                                           "client_tls_sslmode", "client_tls_cert_file", "client_tls_key_file",
                                           "client_tls_ca_file", "client_tls_protocols", "client_tls_ciphers",
                                           "server_tls_sslmode", "server_tls_ca_file", "server_tls_cert_file",
                                           "server_tls_key_file", "server_allow_cleartext_password",
                                           "server_allow_md5_password"};
// Keys a database may set to override the top level's.
const std::vector<std::string> kDatabaseAuthKeys = {
    "auth_type",          "auth_user",          "auth_query",          "server_tls_sslmode",
    "server_tls_ca_file", "server_tls_cert_file", "server_tls_key_file", "server_allow_cleartext_password",
    "server_allow_md5_password"};
const std::vector<std::string> kHbaKeys = {"type", "database", "user", "address", "method"};
const std::vector<std::string> kHbaTypes = {"host", "hostssl", "hostnossl", "local"};
const std::vector<std::string> kTlsModes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
// Top-level too, with PgBouncer's names (TcpOptions in config.hpp).
const std::vector<std::string> kTcpKeys = {"tcp_keepalive", "tcp_keepidle", "tcp_keepintvl", "tcp_keepcnt",
                                           "tcp_user_timeout"};
const std::vector<std::string> kListenKeys = {"address", "port", "unix_socket_dir", "unix_socket_mode"};
const std::vector<std::string> kAdminKeys = {"users", "stats_users"};
const std::vector<std::string> kMetricsKeys = {"enabled", "address", "port"};
const std::vector<std::string> kLimitsKeys = {"max_client_conn", "client_login_timeout", "auth_failure_delay",
                                              "client_write_timeout"};
const std::vector<std::string> kPoolKeys = {
    "pool_mode",          "pool_size",           "min_pool_size",          "reserve_pool_size",
    "reserve_pool_timeout", "max_db_connections", "max_user_connections",   "server_connect_timeout",
    "query_wait_timeout", "query_timeout",       "client_idle_timeout",    "idle_transaction_timeout",
    "server_idle_timeout", "server_lifetime",    "server_check_delay",     "server_check_query",
    "server_reset_query", "max_prepared_statements", "max_client_prepared_statements"};
const std::vector<std::string> kDatabaseOwnKeys = {"host", "port", "dbname", "user", "password"};
const std::vector<std::string> kUserKeys = {"password", "pool_mode", "max_user_connections", "auth_type"};
const std::vector<std::string> kPoolModes = {"session", "transaction", "statement"};
const std::vector<std::string> kAuthTypes = {"scram-sha-256", "md5", "plain", "cert", "trust", "reject"};
const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};
const std::vector<std::string> kLogFormats = {"text", "json"};
constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";

AuthType auth_type_from(const std::string& text) {
    if (text == "md5") return AuthType::md5;
    if (text == "plain") return AuthType::plain;
    if (text == "cert") return AuthType::cert;
    if (text == "trust") return AuthType::trust;
    if (text == "reject") return AuthType::reject;
    return AuthType::scram_sha_256;
}

TlsMode tls_mode_from(const std::string& text) {
    if (text == "allow") return TlsMode::allow;
    if (text == "prefer") return TlsMode::prefer;
    if (text == "require") return TlsMode::require;
    if (text == "verify-ca") return TlsMode::verify_ca;
    if (text == "verify-full") return TlsMode::verify_full;
    return TlsMode::disable;
}

// PgBouncer's client_tls_protocols: names separated by commas or spaces.
std::optional<unsigned> tls_protocols_from(const std::string& text) {
    unsigned out = 0;
    std::string word;
    auto take = [&]() -> bool {
        if (word.empty()) return true;
        if (word == "all" || word == "legacy") out |= tls_v1_0 | tls_v1_1 | tls_v1_2 | tls_v1_3;
        else if (word == "secure") out |= kSecureTlsProtocols;
        else if (word == "tlsv1.0") out |= tls_v1_0;
        else if (word == "tlsv1.1") out |= tls_v1_1;
        else if (word == "tlsv1.2") out |= tls_v1_2;
        else if (word == "tlsv1.3") out |= tls_v1_3;
        else return false;
        word.clear();
        return true;
    };
    for (char c : text) {
        if (c == ',' || c == ' ') {
            if (!take()) return std::nullopt;
        } else {
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    if (!take() || out == 0) return std::nullopt;
    return out;
}

PoolMode pool_mode_from(const std::string& text) {
    if (text == "session") return PoolMode::session;
    if (text == "statement") return PoolMode::statement;
    return PoolMode::transaction;
}

std::vector<std::string> concat(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    auto out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

// "SCRAM-SHA-256$<digits>:<b64>$<b64>:<b64>", checked for shape only.
bool looks_like_verifier(const std::string& text) {
    auto rest = std::string_view(text).substr(kVerifierPrefix.size());
    auto colon = rest.find(':');
    auto dollar = rest.find('$');
    if (colon == 0 || colon == std::string_view::npos || dollar == std::string_view::npos || colon > dollar) return false;
    for (char c : rest.substr(0, colon))
        if (c < '0' || c > '9') return false;
    auto keys = rest.substr(dollar + 1);
    auto key_colon = keys.find(':');
    return key_colon != std::string_view::npos && key_colon > 0 && key_colon + 1 < keys.size() &&
           dollar > colon + 1;
}

class Loader {
public:
    Loader(const std::string& file, const SecretResolver& secrets) : reader_(file), secrets_(secrets) {}

    LoadResult load(const std::string& text) {
        LoadResult result;
        YAML::Node root;
        try {
            root = YAML::Load(text);
        } catch (const YAML::ParserException& e) {
            reader_.error_at(Mark{config_.source_file, e.mark.line + 1, e.mark.column + 1}, "YAML syntax: " + e.msg);
            result.diagnostics = reader_.take_diagnostics();
            return result;
        }
        if (!root.IsMap()) {
            reader_.error_at(Mark{config_.source_file, 1, 1}, "the config must be a map of sections (listen, databases, users, ...)");
            result.diagnostics = reader_.take_diagnostics();
            return result;
        }
        reader_.check_keys(root, "the config", concat(kTopKeys, kTcpKeys));
        read_top(root);
        read_tcp(root);
        if (auto defaults = root["defaults"]) {
            if (reader_.is_map(defaults, "defaults")) {
                reader_.check_keys(defaults, "defaults", kPoolKeys);
                read_pool(defaults, "defaults", config_.defaults);
            }
        }
        read_databases(root);
        read_users(root);
        cross_checks(root);
        result.diagnostics = reader_.take_diagnostics();
        bool failed = false;
        for (const auto& d : result.diagnostics) failed |= d.severity == Diagnostic::Severity::error;
        if (!failed) result.config = std::move(config_);
        return result;
    }

    void set_file(const std::string& file) { config_.source_file = file; }

private:
    template <class T, class Read>
    void read(const YAML::Node& parent, const char* key, const std::string& path, T& out, Read read_value) {
        if (auto node = parent[key]) {
            if (auto value = read_value(node, path.empty() ? std::string(key) : path + "." + key))
                out = static_cast<T>(*value);
        }
    }

    // Readers bound to a value type, for read().
    auto string() {
        return [this](const YAML::Node& n, const std::string& p) { return reader_.string(n, p); };
    }
    auto number(std::uint64_t min, std::uint64_t max) {
        return [this, min, max](const YAML::Node& n, const std::string& p) { return reader_.whole_number(n, p, min, max); };
    }
    auto duration() {
        return [this](const YAML::Node& n, const std::string& p) { return reader_.duration(n, p); };
    }
    auto choice(const std::vector<std::string>& choices) {
        return [this, &choices](const YAML::Node& n, const std::string& p) { return reader_.choice(n, p, choices); };
    }

    // Octal, as chmod takes it: "0770", 0770 or 770 (YAML sees digits; they are read as octal).
    void read_socket_mode(const YAML::Node& node) {
        auto text = reader_.string(node, "listen.unix_socket_mode");
        if (!text) return;
        std::string_view digits = *text;
        if (digits.starts_with("0o")) digits.remove_prefix(2);
        unsigned mode = 0;
        bool valid = !digits.empty() && digits.size() <= 4;
        for (char c : digits) {
            if (c < '0' || c > '7') valid = false;
            else mode = mode * 8 + unsigned(c - '0');
        }
        if (!valid || mode > 0777) {
            reader_.error(node, "listen.unix_socket_mode must be an octal file mode from 0000 to 0777, like 0770 (got '" +
                                    *text + "')");
            return;
        }
        if ((mode & 0600) != 0600)
            reader_.warning(node, "listen.unix_socket_mode " + mode_string(mode) +
                                      " does not let pgsluice's own user read and write the socket");
        config_.listen.unix_socket_mode = mode;
    }

    void read_top(const YAML::Node& root) {
        if (auto listen = root["listen"]; listen && reader_.is_map(listen, "listen")) {
            reader_.check_keys(listen, "listen", kListenKeys);
            read(listen, "address", "listen", config_.listen.address, string());
            read(listen, "port", "listen", config_.listen.port, number(1, 65535));
            if (auto dir = listen["unix_socket_dir"])
                if (auto value = reader_.string(dir, "listen.unix_socket_dir")) config_.listen.unix_socket_dir = *value;
            if (auto mode = listen["unix_socket_mode"]) read_socket_mode(mode);
        }
        if (auto workers = root["workers"]) {
            if (workers.IsScalar() && workers.Scalar() == "auto")
                config_.workers = 0;
            else if (auto value = reader_.whole_number(workers, "workers (auto or a number)", 1, 1024))
                config_.workers = static_cast<unsigned>(*value);
        }
        if (auto spread = root["worker_spread_above"])
            if (auto value = reader_.whole_number(spread, "worker_spread_above (percent of one core, 0 to 100)", 0, 100))
                config_.worker_spread_above = static_cast<unsigned>(*value);
        if (auto auth = root["auth_type"])
            if (auto value = auth_type(auth, "auth_type")) config_.auth_type = *value;
        if (auto allow = root["allow_plain_without_tls"])
            if (auto value = reader_.boolean(allow, "allow_plain_without_tls")) config_.allow_plain_without_tls = *value;
        read_client_tls(root);
        read_server_side(root, "", config_.server_tls, config_.server_login, config_.auth_lookup);
        read(root, "auth_query_cache_ttl", "", config_.auth_query_cache_ttl, duration());
        read(root, "server_scram_max_iterations", "", config_.server_scram_max_iterations, number(4096, 10'000'000));
        read_hba(root);
        if (auto admin = root["admin"]; admin && reader_.is_map(admin, "admin")) {
            reader_.check_keys(admin, "admin", kAdminKeys);
            read_names(admin, "users", "admin.users", config_.admin.users);
            read_names(admin, "stats_users", "admin.stats_users", config_.admin.stats_users);
        }
        if (auto metrics = root["metrics"]; metrics && reader_.is_map(metrics, "metrics")) {
            reader_.check_keys(metrics, "metrics", kMetricsKeys);
            if (auto enabled = metrics["enabled"])
                if (auto value = reader_.boolean(enabled, "metrics.enabled")) config_.metrics.enabled = *value;
            read(metrics, "address", "metrics", config_.metrics.address, string());
            read(metrics, "port", "metrics", config_.metrics.port, number(1, 65535));
        }
        if (auto limits = root["limits"]; limits && reader_.is_map(limits, "limits")) {
            reader_.check_keys(limits, "limits", kLimitsKeys);
            read(limits, "max_client_conn", "limits", config_.limits.max_client_conn, number(1, 1'000'000));
            read(limits, "client_login_timeout", "limits", config_.limits.client_login_timeout, duration());
            read(limits, "auth_failure_delay", "limits", config_.limits.auth_failure_delay, duration());
            if (config_.limits.auth_failure_delay > std::chrono::seconds(10))
                reader_.error(limits["auth_failure_delay"],
                              "limits.auth_failure_delay must be at most 10s: each failed login holds a client slot that long");
            read(limits, "client_write_timeout", "limits", config_.limits.client_write_timeout, duration());
            if (const auto limit = config_.limits.client_write_timeout; limit.count() > 0 && limit < std::chrono::seconds(1))
                reader_.error(limits["client_write_timeout"],
                              "limits.client_write_timeout must be 0 (off) or at least 1s: a shorter one would close "
                              "clients at an ordinary pause in their reading");
        }
        read(root, "log_level", "", config_.log_level, choice(kLogLevels));
        read(root, "log_format", "", config_.log_format, choice(kLogFormats));
        read(root, "shutdown_timeout", "", config_.shutdown_timeout, duration());
        read(root, "stats_period", "", config_.stats_period, duration());
        if (auto watch = root["watch_config"])
            if (auto value = reader_.boolean(watch, "watch_config")) config_.watch_config = *value;
    }

    // Linux caps TCP_KEEPIDLE and TCP_KEEPINTVL at 32767 s and TCP_KEEPCNT at 127; the socket
    // options take whole seconds, so a fraction would be silently cut.
    void read_tcp(const YAML::Node& root) {
        auto& tcp = config_.tcp;
        if (auto keepalive = root["tcp_keepalive"])
            if (auto value = reader_.boolean(keepalive, "tcp_keepalive")) tcp.keepalive = *value;
        auto whole_seconds = [&](const char* key, Duration& out) {
            auto node = root[key];
            if (!node) return;
            auto value = reader_.duration(node, key);
            if (!value) return;
            if (value->count() % 1000 != 0 || *value > std::chrono::seconds(32767)) {
                reader_.error(node, std::string(key) + " must be whole seconds from 1s to 32767s (0 for the OS default)");
                return;
            }
            out = *value;
        };
        whole_seconds("tcp_keepidle", tcp.keepidle);
        whole_seconds("tcp_keepintvl", tcp.keepintvl);
        read(root, "tcp_keepcnt", "", tcp.keepcnt, number(0, 127));
        if (auto node = root["tcp_user_timeout"]) {
            if (auto value = reader_.duration(node, "tcp_user_timeout")) {
                if (*value > std::chrono::hours(24 * 24))  // the socket option is an int of milliseconds
                    reader_.error(node, "tcp_user_timeout must be at most 576h (0 for the OS default)");
                else
                    tcp.user_timeout = *value;
            }
        }
        const bool tuned = tcp.keepidle.count() || tcp.keepintvl.count() || tcp.keepcnt;
        if (!tcp.keepalive && tuned)
            reader_.warning(root["tcp_keepalive"], "tcp_keepidle, tcp_keepintvl and tcp_keepcnt do nothing while tcp_keepalive is off");
    }

    void read_names(const YAML::Node& parent, const char* key, const std::string& path, std::vector<std::string>& out) {
        auto list = parent[key];
        if (!list) return;
        if (!list.IsSequence()) {
            reader_.error(list, path + " must be a list of user names");
            return;
        }
        for (const auto& item : list)
            if (auto name = reader_.string(item, path + " entry")) out.push_back(*name);
    }

    std::optional<AuthType> auth_type(const YAML::Node& node, const std::string& path) {
        auto value = reader_.choice(node, path, kAuthTypes);
        if (!value) return std::nullopt;
        const auto type = auth_type_from(*value);
        if (type == AuthType::trust)
            reader_.warning(node, path + " trust lets a client log in without any password");
        if (type == AuthType::cert) cert_auth_at_.emplace(node);
        return type;
    }

    std::optional<std::string> file_path(const YAML::Node& node, const std::string& path) {
        auto value = reader_.string(node, path);
        if (value && value->empty()) {
            reader_.error(node, path + " is empty");
            return std::nullopt;
        }
        return value;
    }

    void read_client_tls(const YAML::Node& root) {
        auto& tls = config_.client_tls;
        if (auto mode = root["client_tls_sslmode"])
            if (auto value = reader_.choice(mode, "client_tls_sslmode", kTlsModes)) tls.sslmode = tls_mode_from(*value);
        auto file = [this](const YAML::Node& n, const std::string& p) { return file_path(n, p); };
        read(root, "client_tls_cert_file", "", tls.cert_file, file);
        read(root, "client_tls_key_file", "", tls.key_file, file);
        read(root, "client_tls_ca_file", "", tls.ca_file, file);
        read(root, "client_tls_ciphers", "", tls.ciphers, string());
        if (auto protocols = root["client_tls_protocols"]) {
            if (auto text = reader_.string(protocols, "client_tls_protocols")) {
                if (auto value = tls_protocols_from(*text))
                    tls.protocols = *value;
                else
                    reader_.error(protocols, "client_tls_protocols must list some of all, secure, legacy, tlsv1.0, "
                                             "tlsv1.1, tlsv1.2, tlsv1.3 (got '" + *text + "')");
            }
        }
        const auto where = root["client_tls_sslmode"] ? root["client_tls_sslmode"] : root;
        if (tls.sslmode != TlsMode::disable && (tls.cert_file.empty() || tls.key_file.empty()))
            reader_.error(where, std::string("client_tls_sslmode ") + to_string(tls.sslmode) +
                                     " needs client_tls_cert_file and client_tls_key_file");
        if ((tls.sslmode == TlsMode::verify_ca || tls.sslmode == TlsMode::verify_full) && tls.ca_file.empty())
            reader_.error(where, std::string("client_tls_sslmode ") + to_string(tls.sslmode) +
                                     " needs client_tls_ca_file to verify client certificates");
        if (tls.cert_file.empty() != tls.key_file.empty())
            reader_.error(where, "client_tls_cert_file and client_tls_key_file go together: set both or neither");
    }

    // The server-side keys of the top level (path "") or of one database, over `tls`,
    // `login` and `lookup` that already hold what the database inherits.
    void read_server_side(const YAML::Node& node, const std::string& path, ServerTls& tls, ServerLogin& login,
                          AuthLookup& lookup) {
        auto key = [&](const char* name) { return path.empty() ? std::string(name) : path + "." + name; };
        if (auto mode = node["server_tls_sslmode"])
            if (auto value = reader_.choice(mode, key("server_tls_sslmode"), kTlsModes)) tls.sslmode = tls_mode_from(*value);
        auto file = [this](const YAML::Node& n, const std::string& p) { return file_path(n, p); };
        read(node, "server_tls_ca_file", path, tls.ca_file, file);
        read(node, "server_tls_cert_file", path, tls.cert_file, file);
        read(node, "server_tls_key_file", path, tls.key_file, file);
        if ((node["server_tls_cert_file"] || node["server_tls_key_file"]) && tls.cert_file.empty() != tls.key_file.empty())
            reader_.error(node["server_tls_cert_file"] ? node["server_tls_cert_file"] : node["server_tls_key_file"],
                          key("server_tls_cert_file") + " and server_tls_key_file go together: set both or neither");
        if (auto allow = node["server_allow_cleartext_password"])
            if (auto value = reader_.boolean(allow, key("server_allow_cleartext_password"))) login.allow_cleartext = *value;
        if (auto allow = node["server_allow_md5_password"])
            if (auto value = reader_.boolean(allow, key("server_allow_md5_password"))) login.allow_md5 = *value;
        if (auto user = node["auth_user"]) {
            if (auto value = reader_.string(user, key("auth_user"))) {
                lookup.auth_user = *value;
                auth_user_marks_.push_back({*value, user, key("auth_user")});
            }
        }
        if (auto query = node["auth_query"]) {
            if (auto value = reader_.string(query, key("auth_query"))) {
                if (value->find("$1") == std::string::npos)
                    reader_.error(query, key("auth_query") + " must use $1 for the user name");
                else
                    lookup.auth_query = *value;
            }
        }
    }

    void read_hba(const YAML::Node& root) {
        auto list = root["hba"];
        if (!list) return;
        if (!list.IsSequence()) {
            reader_.error(list, "hba must be a list of rules like {type: host, database: all, user: all, address: "
                                "10.0.0.0/8, method: scram-sha-256}");
            return;
        }
        int index = 0;
        for (const auto& node : list) {
            const auto path = "hba[" + std::to_string(index++) + "]";
            if (!reader_.is_map(node, path)) continue;
            reader_.check_keys(node, path, kHbaKeys);
            HbaRule rule;
            bool complete = true;
            if (auto type = node["type"]) {
                if (auto value = reader_.choice(type, path + ".type", kHbaTypes)) {
                    if (*value == "hostssl") rule.type = HbaRule::ConnectionType::hostssl;
                    if (*value == "hostnossl") rule.type = HbaRule::ConnectionType::hostnossl;
                    if (*value == "local") rule.type = HbaRule::ConnectionType::local;
                } else {
                    complete = false;
                }
            } else {
                reader_.error(node, path + " has no type (host, hostssl, hostnossl or local)");
                complete = false;
            }
            read(node, "database", path, rule.database, string());
            read(node, "user", path, rule.user, string());
            if (auto address = node["address"]) {
                if (auto value = reader_.string(address, path + ".address")) {
                    rule.address = *value;
                    if (!AddressRange::parse(*value)) {
                        reader_.error(address, path + ".address must be all, an IP address or a CIDR range like "
                                                      "10.0.0.0/8 or fd00::/8 (got '" + *value + "')");
                        complete = false;
                    }
                }
            } else if (rule.type != HbaRule::ConnectionType::local) {
                reader_.error(node, path + " has no address (all, or a CIDR range like 10.0.0.0/8)");
                complete = false;
            }
            if (auto method = node["method"]) {
                if (auto value = auth_type(method, path + ".method")) rule.method = *value;
                else complete = false;
            } else {
                reader_.error(node, path + " has no method (scram-sha-256, md5, plain, cert, trust or reject)");
                complete = false;
            }
            if (rule.method == AuthType::cert && rule.type != HbaRule::ConnectionType::hostssl)
                reader_.error(node, path + ": method cert needs type hostssl (a client certificate comes only with TLS)");
            if (complete) config_.hba.push_back(std::move(rule));
        }
    }

    void read_pool(const YAML::Node& node, const std::string& path, PoolSettings& pool) {
        if (auto mode = node["pool_mode"])
            if (auto value = reader_.choice(mode, path + ".pool_mode", kPoolModes)) pool.pool_mode = pool_mode_from(*value);
        read(node, "pool_size", path, pool.pool_size, number(1, 10'000));
        read(node, "min_pool_size", path, pool.min_pool_size, number(0, 10'000));
        read(node, "reserve_pool_size", path, pool.reserve_pool_size, number(0, 10'000));
        read(node, "max_db_connections", path, pool.max_db_connections, number(0, 100'000));
        read(node, "max_user_connections", path, pool.max_user_connections, number(0, 100'000));
        read(node, "reserve_pool_timeout", path, pool.reserve_pool_timeout, duration());
        read(node, "server_connect_timeout", path, pool.server_connect_timeout, duration());
        read(node, "query_wait_timeout", path, pool.query_wait_timeout, duration());
        read(node, "query_timeout", path, pool.query_timeout, duration());
        read(node, "client_idle_timeout", path, pool.client_idle_timeout, duration());
        read(node, "idle_transaction_timeout", path, pool.idle_transaction_timeout, duration());
        read(node, "server_idle_timeout", path, pool.server_idle_timeout, duration());
        read(node, "server_lifetime", path, pool.server_lifetime, duration());
        read(node, "server_check_delay", path, pool.server_check_delay, duration());
        read(node, "server_check_query", path, pool.server_check_query, string());
        read(node, "server_reset_query", path, pool.server_reset_query, string());
        read(node, "max_prepared_statements", path, pool.max_prepared_statements, number(0, 100'000));
        read(node, "max_client_prepared_statements", path, pool.max_client_prepared_statements,
             number(1, 1'000'000));
        if (pool.min_pool_size > pool.pool_size)
            reader_.error(node["min_pool_size"] ? node["min_pool_size"] : node,
                          path + ".min_pool_size (" + std::to_string(pool.min_pool_size) +
                              ") cannot be larger than pool_size (" + std::to_string(pool.pool_size) + ")");
    }

    void read_databases(const YAML::Node& root) {
        auto databases = root["databases"];
        if (!databases) {
            reader_.error_at(Mark{config_.source_file, 1, 1}, "no databases: add a 'databases:' section naming at least one");
            return;
        }
        if (!reader_.is_map(databases, "databases")) return;
        if (databases.size() == 0) reader_.error(databases, "databases is empty: name at least one database");
        const auto allowed = concat(concat(kDatabaseOwnKeys, kPoolKeys), kDatabaseAuthKeys);
        for (auto it = databases.begin(); it != databases.end(); ++it) {
            const auto name = it->first.Scalar();
            const auto path = "databases." + name;
            Database database;
            database.name = name;
            database.dbname = name;
            database.pool = config_.defaults;
            database.server_tls = config_.server_tls;
            database.server_login = config_.server_login;
            database.auth_lookup = config_.auth_lookup;
            const YAML::Node node = it->second;  // a handle: the iterator yields a temporary pair
            if (node.IsNull()) {  // "app:" alone: everything by default
                config_.databases.emplace(name, std::move(database));
                continue;
            }
            if (!reader_.is_map(node, path)) continue;
            reader_.check_keys(node, path, allowed);
            read(node, "host", path, database.host, string());
            read(node, "port", path, database.port, number(1, 65535));
            read(node, "dbname", path, database.dbname, string());
            if (auto user = node["user"])
                if (auto value = reader_.string(user, path + ".user")) database.user = *value;
            if (auto password = node["password"]) {
                database.password = secret(password, path + ".password");
                // pgsluice logs in to the server with this password itself; a verifier holds no
                // key to log in with (a user's verifier works only by borrowing the client's proof).
                if (database.password && database.password->kind == Secret::Kind::scram_verifier) {
                    reader_.error(password, path + ".password (" + database.password->source +
                                                ") is a SCRAM verifier; the forced user's server login needs the plaintext password");
                    database.password.reset();
                }
            }
            if (node["host"] && database.host.empty()) reader_.error(node["host"], path + ".host is empty");
            if (auto type = node["auth_type"])
                if (auto value = auth_type(type, path + ".auth_type")) database.auth_type = *value;
            read_server_side(node, path, database.server_tls, database.server_login, database.auth_lookup);
            read_pool(node, path, database.pool);
            if (database.pool.max_db_connections > 0 && database.pool.pool_size > database.pool.max_db_connections)
                reader_.error(node["pool_size"] ? node["pool_size"] : node,
                              path + ": pool_size " + std::to_string(database.pool.pool_size) +
                                  " is larger than max_db_connections " +
                                  std::to_string(database.pool.max_db_connections) + ", so the pool can never fill");
            config_.databases.emplace(name, std::move(database));
        }
    }

    void read_users(const YAML::Node& root) {
        auto users = root["users"];
        if (!users) return;
        if (!reader_.is_map(users, "users")) return;
        for (auto it = users.begin(); it != users.end(); ++it) {
            const auto name = it->first.Scalar();
            const auto path = "users." + name;
            User user;
            user.name = name;
            const YAML::Node node = it->second;  // a handle: the iterator yields a temporary pair
            bool password_given = false;
            if (!node.IsNull() && reader_.is_map(node, path)) {
                reader_.check_keys(node, path, kUserKeys);
                if (auto password = node["password"]) {
                    password_given = true;  // a bad one was reported already
                    user.password = secret(password, path + ".password");
                }
                if (auto mode = node["pool_mode"])
                    if (auto value = reader_.choice(mode, path + ".pool_mode", kPoolModes))
                        user.pool_mode = pool_mode_from(*value);
                if (auto max = node["max_user_connections"])
                    if (auto value = reader_.whole_number(max, path + ".max_user_connections", 0, 100'000))
                        user.max_user_connections = static_cast<std::uint32_t>(*value);
                if (auto type = node["auth_type"])
                    if (auto value = auth_type(type, path + ".auth_type")) user.auth_type = *value;
            }
            // Methods that check no password, and access rules or auth_query that may
            // decide otherwise, let a user go without one.
            const auto type = user.auth_type.value_or(config_.auth_type);
            const bool needs_password = type != AuthType::trust && type != AuthType::cert &&
                                        type != AuthType::reject && config_.hba.empty() && auth_user_marks_.empty();
            if (!password_given && needs_password)
                reader_.error(it->first, path + " has no password (add password: {env: NAME}, {file: PATH} or a SCRAM verifier)");
            config_.users.emplace(name, std::move(user));
        }
    }

    // A plain string, {env: NAME}, {file: PATH}; any of them may hold a SCRAM verifier.
    // The value is never put into a diagnostic.
    std::optional<Secret> secret(const YAML::Node& node, const std::string& path) {
        Secret secret;
        if (node.IsScalar()) {
            secret.value = node.Scalar();
            secret.source = "inline";
            inline_secrets_.push_back({node.Mark().pos, secret.value});
            if (!secret.value.starts_with(kVerifierPrefix))
                reader_.warning(node, path + " is written in the config file; prefer {env: NAME}, {file: PATH} or a SCRAM verifier");
        } else if (node.IsMap() && node.size() == 1 && (node["env"] || node["file"])) {
            const bool from_env = static_cast<bool>(node["env"]);
            auto where = from_env ? node["env"] : node["file"];
            auto name = reader_.string(where, path + (from_env ? ".env" : ".file"));
            if (!name) return std::nullopt;
            auto value = from_env ? (secrets_.env ? secrets_.env(*name) : std::nullopt)
                                  : (secrets_.file ? secrets_.file(*name) : std::nullopt);
            if (!value) {
                reader_.error(where, from_env ? path + ": environment variable " + *name + " is not set"
                                              : path + ": cannot read secret file " + *name);
                return std::nullopt;
            }
            secret.value = *value;
            secret.source = (from_env ? "env " : "file ") + *name;
        } else {
            reader_.error(node, path + " must be a string, {env: NAME} or {file: PATH}");
            return std::nullopt;
        }
        if (secret.value.starts_with(kVerifierPrefix)) {
            if (!looks_like_verifier(secret.value)) {
                reader_.error(node, path + " (" + secret.source +
                                        ") starts like a SCRAM verifier but is not SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
                return std::nullopt;
            }
            secret.kind = Secret::Kind::scram_verifier;
        }
        if (secret.value.empty()) {
            reader_.error(node, path + " (" + secret.source + ") is empty");
            return std::nullopt;
        }
        return secret;
    }

    void cross_checks(const YAML::Node& root) {
        for (const auto& admin : config_.admin.users)
            if (!config_.users.count(admin))
                reader_.warning(root["admin"]["users"], "admin user '" + admin + "' is not defined under users");
        for (const auto& stats : config_.admin.stats_users)
            if (!config_.users.count(stats))
                reader_.warning(root["admin"]["stats_users"], "stats user '" + stats + "' is not defined under users");
        // auth_user logs in to PostgreSQL itself, before any client has proved anything: it
        // needs its plaintext password, not a verifier.
        for (const auto& [name, node, path] : auth_user_marks_) {
            auto user = config_.users.find(name);
            if (user == config_.users.end() || !user->second.password)
                reader_.error(node, path + " '" + name + "' must be listed under users with its password");
            else if (user->second.password->kind != Secret::Kind::plain)
                reader_.error(node, path + " '" + name +
                                        "' has a SCRAM verifier; its login to the server needs the plaintext password");
        }
        if (cert_auth_at_ && (config_.client_tls.sslmode == TlsMode::disable || config_.client_tls.ca_file.empty()))
            reader_.error(*cert_auth_at_, "auth_type cert needs client TLS: set client_tls_sslmode and client_tls_ca_file "
                                         "(the CA that signs client certificates)");
        if (config_.auth_type == AuthType::plain && !config_.allow_plain_without_tls &&
            config_.client_tls.sslmode == TlsMode::disable)
            reader_.warning(root["auth_type"], "auth_type plain without client TLS refuses every login; enable "
                                               "client_tls_sslmode or set allow_plain_without_tls: true");
        if (config_.users.empty() && config_.auth_type != AuthType::trust && root["databases"])
            reader_.warning(root["databases"], "no users are defined: nobody can log in");
    }

public:
    // Where each secret written in the file starts (byte offset) and what it is.
    struct InlineSecret {
        int pos;
        std::string value;
    };
    const std::vector<InlineSecret>& inline_secrets() const { return inline_secrets_; }

private:
    struct AuthUserMark {
        std::string name;
        YAML::Node node;
        std::string path;
    };
    YamlReader reader_;
    const SecretResolver& secrets_;
    Config config_;
    std::vector<AuthUserMark> auth_user_marks_;  // every auth_user written, checked once users are read
    std::optional<YAML::Node> cert_auth_at_;                  // where auth_type cert was last written
    std::vector<InlineSecret> inline_secrets_;
};

std::string sha256_hex(std::string_view text, unsigned bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < bytes && i < length; ++i) {
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 15];
    }
    return out;
}

// The end of the lines after the one holding `pos` that are indented deeper than it (a block
// scalar's lines, or a plain scalar folded over several lines).
std::size_t end_of_deeper_lines(const std::string& text, std::size_t pos) {
    const auto line_start = text.rfind('\n', pos) == std::string::npos ? 0 : text.rfind('\n', pos) + 1;
    const auto indent = text.find_first_not_of(' ', line_start) - line_start;
    auto end = text.find('\n', pos);
    while (end != std::string::npos) {
        const auto next = end + 1;
        const auto first = text.find_first_not_of(' ', next);
        if (first == std::string::npos) return end;  // only spaces after: not part of it
        if (text[first] != '\n' && first - next <= indent) break;
        end = text.find('\n', next);
    }
    return end == std::string::npos ? text.size() : end;
}

// How many bytes from `pos` the scalar written there takes: quotes and escapes included.
std::size_t scalar_extent(const std::string& text, std::size_t pos, const std::string& value) {
    const char open = text[pos];
    if (open == '"' || open == '\'') {
        for (std::size_t i = pos + 1; i < text.size(); ++i) {
            if (open == '"' && text[i] == '\\') {
                ++i;
            } else if (text[i] == open) {
                if (open == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
                    ++i;
                    continue;
                }
                return i + 1 - pos;
            }
        }
        return text.size() - pos;
    }
    if (open != '|' && open != '>' && text.compare(pos, value.size(), value) == 0) return value.size();
    return end_of_deeper_lines(text, pos) - pos;
}

}  // namespace

// Short enough to read in a dashboard, long enough that two configs never share one. A
// secret written in the file is hashed as a digest of it, never in the clear: the hash is
// public (a metric label), and a hash over a known file with one weak password in it would
// let anyone who can guess the rest try passwords offline against it.
static std::string config_hash(std::string text, std::vector<Loader::InlineSecret> secrets) {
    std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.pos > b.pos; });
    std::size_t replaced_from = text.size();  // spans are replaced from the end; never overlap
    for (const auto& secret : secrets) {
        if (secret.pos < 0 || std::size_t(secret.pos) >= replaced_from) continue;
        const auto pos = std::size_t(secret.pos);
        const auto length = std::min(scalar_extent(text, pos, secret.value), replaced_from - pos);
        text.replace(pos, length, "<secret sha256:" + sha256_hex(secret.value, 32) + ">");
        replaced_from = pos;
    }
    return sha256_hex(text, 8);
}

std::string Diagnostic::format() const {
    return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
           (severity == Severity::error ? "error: " : "warning: ") + message;
}

SecretResolver SecretResolver::from_process() {
    SecretResolver resolver;
    resolver.env = [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (!value) return std::nullopt;
        return std::string(value);
    };
    resolver.file = [](const std::string& path) -> std::optional<std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return std::nullopt;
        std::stringstream buffer;
        buffer << in.rdbuf();
        auto text = buffer.str();
        if (text.ends_with('\n')) text.pop_back();
        return text;
    };
    return resolver;
}


LoadResult load_config(const std::string& yaml_text, const std::string& file_name, const SecretResolver& secrets) {
    Loader loader(file_name, secrets);
    loader.set_file(file_name);
    auto result = loader.load(yaml_text);
    if (result.config) result.config->hash = config_hash(yaml_text, loader.inline_secrets());
    return result;
}

LoadResult load_config_file(const std::string& path, const SecretResolver& secrets) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult result;
        result.diagnostics.push_back({Diagnostic::Severity::error, Mark{path, 0, 0},
                                      std::string("cannot read config file: ") + std::strerror(errno)});
        return result;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    return load_config(buffer.str(), path, secrets);
}

}  // namespace pgsluice::config
