// The TLS, authentication and access-rule keys: defaults, per-database overrides, and each
// mistake reported at its file:line:col.
#include <catch2/catch.hpp>

#include "config/diff.hpp"
#include "config/loader.hpp"

using namespace pgsluice::config;

namespace {

SecretResolver no_secrets() { return SecretResolver{}; }

LoadResult load(const std::string& yaml) { return load_config(yaml, "auth.yaml", no_secrets()); }

std::string messages(const LoadResult& result) {
    std::string out;
    for (const auto& d : result.diagnostics) out += d.format() + "\n";
    return out;
}

bool has(const LoadResult& result, const std::string& text) { return messages(result).find(text) != std::string::npos; }

const std::string kBase =
    "databases:\n  app: {host: db}\nusers:\n  app: {password: 'SCRAM-SHA-256$4096:c2FsdA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='}\n";

}  // namespace

TEST_CASE("TLS and auth settings have PgBouncer's defaults", "[config][auth]") {
    auto result = load(kBase);
    INFO(messages(result));
    REQUIRE(result.ok());
    const auto& config = *result.config;
    CHECK(config.client_tls.sslmode == TlsMode::disable);
    CHECK(config.client_tls.protocols == (tls_v1_2 | tls_v1_3));
    CHECK(config.server_tls.sslmode == TlsMode::disable);
    CHECK(config.auth_type == AuthType::scram_sha_256);
    CHECK_FALSE(config.allow_plain_without_tls);
    CHECK(config.hba.empty());
    CHECK(config.admin.stats_users.empty());
    CHECK(config.limits.auth_failure_delay == std::chrono::seconds(1));
    CHECK(config.auth_query_cache_ttl == std::chrono::seconds(60));
    CHECK(config.server_scram_max_iterations == 100'000);
    CHECK_FALSE(config.auth_lookup.auth_user);
    // Schema-qualified: a client's search_path cannot point it at another pg_shadow.
    CHECK(config.auth_lookup.auth_query == "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename=$1");
    CHECK_FALSE(config.server_login.allow_cleartext);
    CHECK_FALSE(config.server_login.allow_md5);
}

TEST_CASE("client TLS keys are read at the top level", "[config][auth]") {
    auto result = load(kBase +
                       "client_tls_sslmode: verify-full\nclient_tls_cert_file: /etc/s.crt\nclient_tls_key_file: /etc/s.key\n"
                       "client_tls_ca_file: /etc/ca.crt\nclient_tls_protocols: tlsv1.3\nclient_tls_ciphers: HIGH\n");
    INFO(messages(result));
    REQUIRE(result.ok());
    const auto& tls = result.config->client_tls;
    CHECK(tls.sslmode == TlsMode::verify_full);
    CHECK(tls.cert_file == "/etc/s.crt");
    CHECK(tls.key_file == "/etc/s.key");
    CHECK(tls.ca_file == "/etc/ca.crt");
    CHECK(tls.protocols == tls_v1_3);
    CHECK(tls.ciphers == "HIGH");
}

TEST_CASE("client_tls_protocols takes PgBouncer's names", "[config][auth]") {
    auto protocols = [](const std::string& text) {
        auto result = load(kBase + "client_tls_protocols: '" + text + "'\n");
        return result.ok() ? result.config->client_tls.protocols : 0u;
    };
    CHECK(protocols("secure") == (tls_v1_2 | tls_v1_3));
    CHECK(protocols("all") == (tls_v1_0 | tls_v1_1 | tls_v1_2 | tls_v1_3));
    CHECK(protocols("tlsv1.2,tlsv1.3") == (tls_v1_2 | tls_v1_3));
    CHECK(protocols("tlsv1.2 tlsv1.3") == (tls_v1_2 | tls_v1_3));
    auto bad = load(kBase + "client_tls_protocols: tlsv9\n");
    CHECK(has(bad, "auth.yaml:5:23: error: client_tls_protocols must list"));
}

TEST_CASE("client TLS that cannot work is an error where the mode is written", "[config][auth]") {
    auto no_cert = load(kBase + "client_tls_sslmode: require\n");
    CHECK(has(no_cert, "auth.yaml:5:21: error: client_tls_sslmode require needs client_tls_cert_file and client_tls_key_file"));
    auto no_ca = load(kBase + "client_tls_sslmode: verify-ca\nclient_tls_cert_file: a\nclient_tls_key_file: b\n");
    CHECK(has(no_ca, "client_tls_sslmode verify-ca needs client_tls_ca_file"));
    auto bad_mode = load(kBase + "client_tls_sslmode: always\n");
    CHECK(has(bad_mode, "auth.yaml:5:21: error: client_tls_sslmode"));
}

TEST_CASE("server TLS and login settings are inherited and overridden per database", "[config][auth]") {
    auto result = load(
        "server_tls_sslmode: verify-full\nserver_tls_ca_file: /ca.crt\nserver_allow_md5_password: true\n"
        "auth_type: md5\n"
        "databases:\n"
        "  app: {host: db}\n"
        "  legacy: {host: old, server_tls_sslmode: disable, server_allow_cleartext_password: true, auth_type: plain}\n"
        "users:\n  app: {password: x, auth_type: scram-sha-256}\nallow_plain_without_tls: true\n");
    INFO(messages(result));
    REQUIRE(result.ok());
    const auto& config = *result.config;
    const auto& app = config.databases.at("app");
    CHECK(app.server_tls.sslmode == TlsMode::verify_full);
    CHECK(app.server_tls.ca_file == "/ca.crt");
    CHECK(app.server_login.allow_md5);
    CHECK_FALSE(app.server_login.allow_cleartext);
    CHECK_FALSE(app.auth_type);
    const auto& legacy = config.databases.at("legacy");
    CHECK(legacy.server_tls.sslmode == TlsMode::disable);
    CHECK(legacy.server_tls.ca_file == "/ca.crt");
    CHECK(legacy.server_login.allow_cleartext);
    CHECK(legacy.auth_type == AuthType::plain);
    CHECK(config.auth_type == AuthType::md5);
    CHECK(config.users.at("app").auth_type == AuthType::scram_sha_256);
    CHECK(config.allow_plain_without_tls);
}

TEST_CASE("every auth_type value is accepted, trust with a warning", "[config][auth]") {
    for (const char* type : {"scram-sha-256", "md5", "plain", "trust", "reject"}) {
        auto result = load(kBase + "auth_type: " + type + "\nallow_plain_without_tls: true\n");
        INFO(type << "\n" << messages(result));
        CHECK(result.ok());
        CHECK(to_string(result.config->auth_type) == std::string(type));
    }
    CHECK(has(load(kBase + "auth_type: trust\n"), "auth.yaml:5:12: warning: auth_type trust lets a client log in"));
    CHECK(has(load(kBase + "auth_type: password\n"), "auth.yaml:5:12: error: auth_type"));
}

TEST_CASE("auth_type cert needs client TLS with a CA", "[config][auth]") {
    auto result = load(kBase + "auth_type: cert\n");
    CHECK(has(result, "auth.yaml:5:12: error: auth_type cert needs client TLS"));
    auto ok = load(kBase + "auth_type: cert\nclient_tls_sslmode: require\nclient_tls_cert_file: a\n"
                           "client_tls_key_file: b\nclient_tls_ca_file: c\n");
    INFO(messages(ok));
    CHECK(ok.ok());
}

TEST_CASE("plain without TLS is warned about unless allowed", "[config][auth]") {
    CHECK(has(load(kBase + "auth_type: plain\n"), "warning: auth_type plain without client TLS refuses every login"));
    CHECK_FALSE(has(load(kBase + "auth_type: plain\nallow_plain_without_tls: true\n"), "refuses every login"));
}

TEST_CASE("hba rules are read in order with their fields", "[config][auth]") {
    auto result = load(kBase +
                       "hba:\n"
                       "  - {type: hostssl, database: app, user: all, address: 10.0.0.0/8, method: scram-sha-256}\n"
                       "  - {type: host, database: all, user: bob, address: 'fd00::/8', method: reject}\n"
                       "  - {type: local, database: all, user: all, method: trust}\n");
    INFO(messages(result));
    REQUIRE(result.ok());
    const auto& hba = result.config->hba;
    REQUIRE(hba.size() == 3);
    CHECK(hba[0].type == HbaRule::ConnectionType::hostssl);
    CHECK(hba[0].database == "app");
    CHECK(hba[0].address == "10.0.0.0/8");
    CHECK(hba[0].method == AuthType::scram_sha_256);
    CHECK(hba[1].user == "bob");
    CHECK(hba[1].method == AuthType::reject);
    CHECK(hba[2].type == HbaRule::ConnectionType::local);
    CHECK(hba[2].method == AuthType::trust);
}

TEST_CASE("a bad hba rule is reported at its field", "[config][auth]") {
    auto result = load(kBase +
                       "hba:\n"
                       "  - {type: host, database: all, user: all, address: 10.0.0.0/33, method: md5}\n"
                       "  - {type: remote, address: all, method: md5}\n"
                       "  - {type: host, address: all}\n"
                       "  - {type: host, method: md5}\n"
                       "  - {type: host, address: all, method: cert}\n");
    CHECK(has(result, "auth.yaml:6:53: error: hba[0].address must be all, an IP address or a CIDR range"));
    CHECK(has(result, "auth.yaml:7:12: error: hba[1].type"));
    CHECK(has(result, "hba[2] has no method"));
    CHECK(has(result, "hba[3] has no address"));
    CHECK(has(result, "hba[4]: method cert needs type hostssl"));
}

TEST_CASE("auth_user must be a listed user with a plaintext password", "[config][auth]") {
    auto missing = load(kBase + "auth_user: pgsluice_auth\n");
    CHECK(has(missing, "auth.yaml:5:12: error: auth_user 'pgsluice_auth' must be listed under users"));
    auto verifier = load(kBase + "auth_user: app\n");
    CHECK(has(verifier, "auth_user 'app' has a SCRAM verifier"));
    auto ok = load("auth_user: lookup\nauth_query: SELECT usename, passwd FROM my_users WHERE usename=$1\n"
                   "databases:\n  app: {host: db}\n  other: {host: db, auth_user: lookup2, auth_query: 'SELECT $1, NULL'}\n"
                   "users:\n  lookup: {password: {env: X}}\n  lookup2: {password: y}\n  listed_without_password:\n");
    // (env X is not set: that is its only error.)
    CHECK(has(ok, "environment variable X is not set"));
    CHECK_FALSE(has(ok, "has no password"));
    auto no_dollar = load(kBase + "auth_query: SELECT 1\n");
    CHECK(has(no_dollar, "auth.yaml:5:13: error: auth_query must use $1 for the user name"));
}

TEST_CASE("auth_user and auth_query are inherited by databases and overridden", "[config][auth]") {
    auto result = load("auth_user: lookup\n"
                       "databases:\n  app: {host: db}\n  other: {host: db, auth_query: 'SELECT usename, passwd FROM x WHERE usename=$1'}\n"
                       "users:\n  lookup: {password: secret}\n");
    INFO(messages(result));
    REQUIRE(result.ok());
    const auto& app = result.config->databases.at("app").auth_lookup;
    CHECK(app.auth_user == "lookup");
    CHECK(app.auth_query == kDefaultAuthQuery);
    const auto& other = result.config->databases.at("other").auth_lookup;
    CHECK(other.auth_user == "lookup");
    CHECK(other.auth_query == "SELECT usename, passwd FROM x WHERE usename=$1");
}

TEST_CASE("stats_users and auth_failure_delay", "[config][auth]") {
    auto result = load(kBase + "admin: {users: [app], stats_users: [app, watcher]}\nlimits: {auth_failure_delay: 0}\n");
    INFO(messages(result));
    REQUIRE(result.ok());
    CHECK(result.config->admin.stats_users == std::vector<std::string>{"app", "watcher"});
    CHECK(result.config->limits.auth_failure_delay == Duration::zero());
    CHECK(has(result, "warning: stats user 'watcher' is not defined under users"));
    CHECK(has(load(kBase + "limits: {auth_failure_delay: 1m}\n"), "limits.auth_failure_delay must be at most 10s"));
}

TEST_CASE("a user with a password-less method needs no password", "[config][auth]") {
    auto result = load("databases:\n  app: {host: db}\nusers:\n  kiosk: {auth_type: reject}\n  ops: {auth_type: trust}\n");
    INFO(messages(result));
    CHECK(result.ok());
    CHECK(has(load("databases:\n  app: {host: db}\nusers:\n  app:\n"), "users.app has no password"));
}

TEST_CASE("reload reports auth and TLS changes", "[config][diff][auth]") {
    auto before = load(kBase);
    auto after = load("client_tls_sslmode: require\nclient_tls_cert_file: /a\nclient_tls_key_file: /b\n"
                      "server_tls_sslmode: prefer\nauth_type: md5\n"
                      "hba: [{type: host, address: all, method: md5}]\nadmin: {stats_users: [app]}\n"
                      "databases:\n  app: {host: db, server_tls_sslmode: verify-full, auth_type: scram-sha-256}\n"
                      "users:\n  app: {password: pw, auth_type: plain}\nallow_plain_without_tls: true\n");
    INFO(messages(after));
    REQUIRE(before.ok());
    REQUIRE(after.ok());
    std::string text;
    for (const auto& change : diff_configs(*before.config, *after.config)) text += change.format() + "\n";
    INFO(text);
    CHECK(text.find("client_tls_sslmode: disable -> require\n") != std::string::npos);
    CHECK(text.find("client_tls_cert_file: \"\" -> /a\n") != std::string::npos);
    CHECK(text.find("server_tls_sslmode: disable -> prefer\n") != std::string::npos);
    CHECK(text.find("auth_type: scram-sha-256 -> md5\n") != std::string::npos);
    CHECK(text.find("hba: [] -> [{host all all all md5}]\n") != std::string::npos);
    CHECK(text.find("admin.stats_users: [] -> [app]\n") != std::string::npos);
    CHECK(text.find("databases.app.server_tls_sslmode: disable -> verify-full\n") != std::string::npos);
    CHECK(text.find("databases.app.auth_type: (unset) -> scram-sha-256\n") != std::string::npos);
    CHECK(text.find("users.app.auth_type: (unset) -> plain\n") != std::string::npos);
    CHECK(text.find("allow_plain_without_tls: false -> true\n") != std::string::npos);
    CHECK(text.find("needs a restart") == std::string::npos);
}
