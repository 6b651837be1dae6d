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

// How clients prove who they are to pgsluice (PostgreSQL's method names).
enum class AuthType { scram_sha_256, md5, plain, cert, trust, reject };

// PgBouncer's client_tls_sslmode / server_tls_sslmode values, with PgBouncer's meanings.
enum class TlsMode { disable, allow, prefer, require, verify_ca, verify_full };

// TLS protocol versions, as a set (PgBouncer's client_tls_protocols).
enum TlsProtocol : unsigned { tls_v1_0 = 1, tls_v1_1 = 2, tls_v1_2 = 4, tls_v1_3 = 8 };
inline constexpr unsigned kSecureTlsProtocols = tls_v1_2 | tls_v1_3;

// pgsluice as the TLS server towards clients. Files are paths; they are read by proxy/tls,
// not here.
struct ClientTls {
    TlsMode sslmode = TlsMode::disable;
    std::string cert_file;
    std::string key_file;
    std::string ca_file;  // verifies client certificates (verify-ca, verify-full, auth_type cert)
    unsigned protocols = kSecureTlsProtocols;
    std::string ciphers = "default";  // OpenSSL cipher list for TLS 1.2 and below; "default": OpenSSL's
};

// pgsluice as the TLS client towards PostgreSQL (top level, overridable per database).
struct ServerTls {
    TlsMode sslmode = TlsMode::disable;
    std::string ca_file;
    std::string cert_file;  // a client certificate towards PostgreSQL, optional
    std::string key_file;
    bool operator==(const ServerTls&) const = default;
};

// How pgsluice may log in to PostgreSQL when the server asks (top level, per database).
struct ServerLogin {
    // A server asking for the password in clear text (AuthenticationCleartextPassword) or as
    // MD5 is refused unless allowed: either hands the password, or a replayable hash of it,
    // to whoever answers on the server's address.
    bool allow_cleartext = false;
    bool allow_md5 = false;
    bool operator==(const ServerLogin&) const = default;
};

// PgBouncer's default auth_query, schema-qualified so that no search_path can point it at
// another relation named pg_shadow (pgsluice also runs it with a fixed search_path).
inline constexpr const char* kDefaultAuthQuery =
    "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename=$1";

// Users not listed under `users:` are looked up in PostgreSQL: pgsluice logs in as
// auth_user (whose password is under users:) and runs auth_query for the client's name.
struct AuthLookup {
    std::optional<std::string> auth_user;  // unset: no lookup
    std::string auth_query = kDefaultAuthQuery;
    bool operator==(const AuthLookup&) const = default;
};

// One access rule (an hba line): which connections it matches, and how they authenticate.
struct HbaRule {
    enum class ConnectionType { host, hostssl, hostnossl, local };
    ConnectionType type = ConnectionType::host;
    std::string database = "all";  // a name or "all"
    std::string user = "all";      // a name or "all"
    // The address as written ("all", "10.0.0.0/8", "::1/128", "192.168.1.5"); the matcher
    // (config/access_rules.hpp) parses it, and the loader has checked it parses.
    std::string address = "all";
    AuthType method = AuthType::reject;
    bool operator==(const HbaRule&) const = default;
};

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
    // Who may use the admin console's SHOW commands and nothing else (PgBouncer's stats_users).
    std::vector<std::string> stats_users;
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
    // A failed login waits this long before its error reply (a timer, not a blocked
    // thread): it slows down password guessing. 0: answer at once.
    Duration auth_failure_delay = std::chrono::seconds(1);
    // A client that takes no byte of what pgsluice has for it (its socket stays full) for
    // this long is closed, and its server with it when mid-transaction. 0: no limit (a
    // client that stops reading then holds its server until it reads again or its TCP
    // connection dies).
    Duration client_write_timeout = Duration::zero();
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
    std::optional<AuthType> auth_type;  // overrides the top level for this database
    ServerTls server_tls;               // the top level's, with this database's overrides
    ServerLogin server_login;           // the top level's, with this database's overrides
    AuthLookup auth_lookup;             // the top level's, with this database's overrides
};

struct User {
    std::string name;
    std::optional<Secret> password;    // absent only when auth_type is trust
    std::optional<PoolMode> pool_mode;  // overrides the database's mode for this user
    std::optional<std::uint32_t> max_user_connections;
    std::optional<AuthType> auth_type;  // overrides the database's and the top level's
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
    // 0: every worker takes clients at all times (proxy/runtime/worker_spread.hpp).
    unsigned worker_spread_above = 70;
    AuthType auth_type = AuthType::scram_sha_256;
    // `plain` sends the password in clear text: refused on a connection without TLS unless this is set.
    bool allow_plain_without_tls = false;
    std::vector<HbaRule> hba;  // empty: no access rules (auth_type decides); else first match wins
    ClientTls client_tls;
    ServerTls server_tls;      // defaults for every database
    ServerLogin server_login;  // defaults for every database
    AuthLookup auth_lookup;    // defaults for every database
    // How long a verifier fetched with auth_query is reused.
    Duration auth_query_cache_ttl = std::chrono::seconds(60);
    // The most PBKDF2 rounds pgsluice derives when a server's SCRAM challenge asks.
    std::uint32_t server_scram_max_iterations = 100'000;
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
const char* to_string(TlsMode mode);
const char* to_string(HbaRule::ConnectionType type);
// "tlsv1.2,tlsv1.3"
std::string tls_protocols_string(unsigned protocols);
// A file mode as written in a config: "0777".
std::string mode_string(unsigned mode);

}  // namespace pgsluice::config
