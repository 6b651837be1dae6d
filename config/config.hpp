// The configuration as plain, immutable values. A running pgsluice holds one snapshot
// (std::shared_ptr<const Config>); a reload builds a whole new one. No I/O here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgsluice::config {

using Duration = std::chrono::milliseconds;

enum class PoolMode { session, transaction, statement };

// How clients prove who they are to pgsluice.
enum class AuthType { scram_sha_256, md5, plain, trust };

// A password as configured. The text is a secret: never log it, never print it.
struct Secret {
    enum class Kind {
        plain,          // the password itself (from a string, {env: X} or {file: path})
        scram_verifier  // "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>"
    };
    Kind kind = Kind::plain;
    std::string value;
    std::string source;  // where it came from, safe to print: "inline", "env APP_PASSWORD", "file /x"
};

struct Listen {
    std::string address = "127.0.0.1";
    std::uint16_t port = 6432;
    std::optional<std::string> unix_socket_dir;  // socket file is <dir>/.s.PGSQL.<port>
    unsigned unix_socket_mode = 0777;            // permissions of the socket file (PgBouncer's default)
};

struct Admin {
    std::vector<std::string> users;  // who may use the admin console
};

struct Metrics {
    bool enabled = true;
    std::string address = "127.0.0.1";
    std::uint16_t port = 9632;
};

struct Limits {
    std::uint32_t max_client_conn = 5000;
    // A client that has not finished its login (startup packet, SSL negotiation, the whole
    // authentication exchange) within this is closed: it holds a place in max_client_conn.
    // 0: no limit. PgBouncer's name and default.
    Duration client_login_timeout = std::chrono::seconds(60);
};

// TCP keepalive and TCP_USER_TIMEOUT for every TCP socket pgsluice accepts from a client or
// opens to a server (never Unix sockets), so a peer that vanished without a FIN or RST (a
// cut network, a powered-off host) is noticed in seconds rather than after the kernel's
// retransmission limit (about 15 minutes). PgBouncer's names; 0 leaves the OS default.
struct TcpOptions {
    bool keepalive = true;                     // tcp_keepalive: SO_KEEPALIVE
    Duration keepidle = Duration::zero();      // tcp_keepidle: idle time before the first probe (whole seconds)
    Duration keepintvl = Duration::zero();     // tcp_keepintvl: time between probes (whole seconds)
    std::uint32_t keepcnt = 0;                 // tcp_keepcnt: unanswered probes before the peer is dead
    Duration user_timeout = Duration::zero();  // tcp_user_timeout: unacknowledged data older than this kills the connection
    bool operator==(const TcpOptions&) const = default;
};

// Pool settings every database inherits from `defaults:` and may override.
struct PoolSettings {
    PoolMode pool_mode = PoolMode::transaction;
    std::uint32_t pool_size = 20;
    std::uint32_t min_pool_size = 0;
    std::uint32_t reserve_pool_size = 0;
    Duration reserve_pool_timeout = std::chrono::seconds(5);
    std::uint32_t max_db_connections = 0;  // 0: no cap beyond the pools
    std::uint32_t max_user_connections = 0;  // 0: no cap
    Duration server_connect_timeout = std::chrono::seconds(5);
    Duration query_wait_timeout = std::chrono::seconds(120);
    Duration query_timeout = Duration::zero();            // 0: off
    Duration client_idle_timeout = Duration::zero();      // 0: off
    Duration idle_transaction_timeout = Duration::zero(); // 0: off
    Duration server_idle_timeout = std::chrono::seconds(600);
    Duration server_lifetime = std::chrono::seconds(3600);
    Duration server_check_delay = std::chrono::seconds(30);
    std::string server_check_query = "select 1";
    std::string server_reset_query = "DISCARD ALL";
    // Named prepared statements kept per server connection in transaction and statement mode
    // (the least recently used is closed beyond it); 0 turns the tracking off and forwards
    // statement names as they are. PgBouncer's name and default.
    std::uint32_t max_prepared_statements = 200;
    // The most named prepared statements one client may hold at once: each costs pgsluice
    // memory (its text is kept to prepare it on the next server), so a client that never
    // closes its statements gets an error (54000) instead of growing pgsluice without end.
    std::uint32_t max_client_prepared_statements = 1000;
};

struct Database {
    std::string name;     // what clients put in their startup packet (the YAML key)
    std::string host = "127.0.0.1";  // a hostname, an IP, or a Unix socket directory ("/...")
    std::uint16_t port = 5432;
    std::string dbname;   // the database on the server; defaults to `name`
    // Log in to the server as this user instead of the client's own (PgBouncer's forced user).
    std::optional<std::string> user;
    std::optional<Secret> password;  // the forced user's password
    PoolSettings pool;    // defaults merged with this database's overrides
};

struct User {
    std::string name;
    std::optional<Secret> password;    // absent only when auth_type is trust
    std::optional<PoolMode> pool_mode;  // overrides the database's mode for this user
    std::optional<std::uint32_t> max_user_connections;
};

// Where in which file a value was written, for errors and `pgsluice check`.
struct Mark {
    std::string file;
    int line = 0;    // 1-based
    int column = 0;  // 1-based
};

struct Config {
    Listen listen;
    unsigned workers = 0;  // 0: one per core ("auto")
    // A worker busier than this (percent of one core) makes one more worker take clients;
    // 0: every worker takes clients at all times (proxy/worker_spread.hpp).
    unsigned worker_spread_above = 70;
    AuthType auth_type = AuthType::scram_sha_256;
    Admin admin;
    Metrics metrics;
    Limits limits;
    TcpOptions tcp;  // top-level keys tcp_keepalive, tcp_keepidle, ... (PgBouncer's)
    PoolSettings defaults;
    std::map<std::string, Database> databases;
    std::map<std::string, User> users;
    std::string log_level = "info";   // trace, debug, info, warn, error
    std::string log_format = "text";  // text | json
    Duration shutdown_timeout = std::chrono::seconds(30);
    Duration stats_period = std::chrono::seconds(60);  // the periodic stats log line; 0: off
    bool watch_config = false;  // reload when the file's mtime or size changes (polled every second)
    std::string source_file;  // the path it was loaded from
    std::string hash;         // SHA-256 of the file's bytes, first 16 hex digits: which config is live
};

const char* to_string(PoolMode mode);
const char* to_string(AuthType type);
// A file mode as written in a config: "0777".
std::string mode_string(unsigned mode);

}  // namespace pgsluice::config
