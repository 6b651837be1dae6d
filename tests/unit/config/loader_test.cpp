// Config loading: defaults, merge order, secrets, and every error at its file:line:col.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "config/loader.hpp"

using namespace pgsluice::config;

namespace {

SecretResolver fake_secrets() {
    SecretResolver resolver;
    resolver.env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "APP_PASSWORD") return "env-secret-value";
        if (name == "REPORTING_PASSWORD") return "reporting-secret";
        if (name == "VERIFIER") return "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        return std::nullopt;
    };
    resolver.file = [](const std::string& path) -> std::optional<std::string> {
        if (path == "/run/secrets/pgsluice-admin") return "file-secret-value";
        return std::nullopt;
    };
    return resolver;
}

LoadResult load(const std::string& yaml) { return load_config(yaml, "test.yaml", fake_secrets()); }

std::string all_messages(const LoadResult& result) {
    std::string out;
    for (const auto& d : result.diagnostics) out += d.format() + "\n";
    return out;
}

bool has(const LoadResult& result, const std::string& text) { return all_messages(result).find(text) != std::string::npos; }

const std::string kMinimal = "databases:\n  app: {host: db.internal}\nusers:\n  app: {password: {env: APP_PASSWORD}}\n";

}  // namespace

TEST_CASE("the commented example config loads with every key", "[config]") {
    std::ifstream in(std::string(PGSLUICE_SOURCE_DIR) + "/deploy/examples/pgsluice.yaml");
    std::stringstream text;
    text << in.rdbuf();
    auto result = load_config(text.str(), "pgsluice.yaml", fake_secrets());
    INFO(all_messages(result));
    REQUIRE(result.ok());
    const auto& config = *result.config;
    CHECK(config.listen.port == 6432);
    CHECK(config.listen.unix_socket_dir == "/tmp");
    CHECK(config.workers == 0);
    CHECK(config.worker_spread_above == 70);
    CHECK(config.databases.at("app").pool.pool_size == 10);
    CHECK(config.databases.at("reports").pool.pool_mode == PoolMode::session);
    CHECK(config.databases.at("reports").password->value == "reporting-secret");
    CHECK(config.users.at("app").password->source == "env APP_PASSWORD");
    CHECK(config.users.at("admin").password->value == "file-secret-value");
    CHECK(config.tcp.keepidle == std::chrono::seconds(30));
    CHECK(config.tcp.user_timeout == std::chrono::seconds(60));
}

TEST_CASE("a minimal config gets the documented defaults", "[config]") {
    auto result = load(kMinimal);
    REQUIRE(result.ok());
    const auto& config = *result.config;
    CHECK(config.listen.address == "127.0.0.1");
    CHECK(config.auth_type == AuthType::scram_sha_256);
    CHECK(config.limits.max_client_conn == 5000);
    CHECK(config.limits.client_login_timeout == std::chrono::seconds(60));
    CHECK(config.limits.client_write_timeout == std::chrono::seconds(0));
    CHECK(config.worker_spread_above == 70);
    const auto& app = config.databases.at("app");
    CHECK(app.dbname == "app");
    CHECK(app.port == 5432);
    CHECK(app.pool.pool_mode == PoolMode::transaction);
    CHECK(app.pool.pool_size == 20);
    CHECK(app.pool.query_wait_timeout == std::chrono::seconds(120));
    CHECK(app.pool.server_reset_query == "DISCARD ALL");
}

TEST_CASE("a database inherits defaults and its own keys win, whatever the section order", "[config]") {
    auto result = load(
        "databases:\n"
        "  app: {pool_size: 7}\n"
        "  other: {}\n"
        "defaults:\n"
        "  pool_size: 3\n"
        "  query_wait_timeout: 500ms\n"
        "users:\n  app: {password: {env: APP_PASSWORD}}\n");
    REQUIRE(result.ok());
    CHECK(result.config->databases.at("app").pool.pool_size == 7);
    CHECK(result.config->databases.at("app").pool.query_wait_timeout == std::chrono::milliseconds(500));
    CHECK(result.config->databases.at("other").pool.pool_size == 3);
}

TEST_CASE("an unknown key is an error at its line and column with a suggestion", "[config]") {
    auto result = load(
        "listen:\n"
        "  port: 6432\n"
        "defaults:\n"
        "  pool_szie: 5\n" + kMinimal);
    REQUIRE_FALSE(result.ok());
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].where.line == 4);
    CHECK(result.diagnostics[0].where.column == 3);
    CHECK(result.diagnostics[0].format() == "test.yaml:4:3: error: unknown key 'pool_szie' in defaults (did you mean 'pool_size'?)");
}

TEST_CASE("wrong types, ranges and enums are all reported together in file order", "[config]") {
    auto result = load(
        "listen: {port: 70000}\n"
        "workers: lots\n"
        "defaults:\n"
        "  pool_size: ten\n"
        "  pool_mode: transactoin\n"
        "  server_lifetime: 5\n"
        "databases:\n"
        "  app: {host: x}\n"
        "users:\n  app: {password: {env: APP_PASSWORD}}\n");
    REQUIRE_FALSE(result.ok());
    REQUIRE(result.diagnostics.size() == 5);
    CHECK(result.diagnostics[0].where.line == 1);
    CHECK(has(result, "listen.port must be between 1 and 65535, got 70000"));
    CHECK(has(result, "test.yaml:2:10: error: workers"));
    CHECK(has(result, "test.yaml:4:14: error: defaults.pool_size must be a whole number, got 'ten'"));
    CHECK(has(result, "(did you mean 'transaction'?)"));
    CHECK(has(result, "test.yaml:6:20: error: defaults.server_lifetime needs a unit"));
}

TEST_CASE("durations take ms, s, m and h, 0 means off, and a bare number needs a unit", "[config]") {
    using std::chrono::milliseconds;
    const auto [text, expected] = GENERATE(table<std::string, long>({{"500ms", 500}, {"5s", 5000}, {"2m", 120000},
                                                                     {"1h", 3600000}, {"0", 0}, {"0s", 0}}));
    auto result = load("defaults: {query_timeout: " + text + "}\n" + kMinimal);
    REQUIRE(result.ok());
    CHECK(result.config->defaults.query_timeout == milliseconds(expected));
    const auto bad = GENERATE(as<std::string>{}, "5", "5 seconds", "-1s", "1d", "s", "1.5s");
    CHECK_FALSE(load("defaults: {query_timeout: " + bad + "}\n" + kMinimal).ok());
}

TEST_CASE("a pool larger than its database's max_db_connections is an error", "[config]") {
    auto result = load("databases:\n  app: {pool_size: 30, max_db_connections: 10}\nusers:\n  app: {password: {env: APP_PASSWORD}}\n");
    REQUIRE_FALSE(result.ok());
    CHECK(has(result, "test.yaml:2:20: error: databases.app: pool_size 30 is larger than max_db_connections 10"));
}

TEST_CASE("secrets resolve from env and files, and never appear in a diagnostic", "[config]") {
    SECTION("an inline password warns but loads") {
        auto result = load("databases: {app: {}}\nusers:\n  app: {password: hunter2-inline}\n");
        REQUIRE(result.ok());
        CHECK(result.config->users.at("app").password->value == "hunter2-inline");
        CHECK(has(result, "warning: users.app.password is written in the config file"));
        CHECK_FALSE(has(result, "hunter2-inline"));
    }
    SECTION("a missing environment variable names the variable only") {
        auto result = load("databases: {app: {}}\nusers:\n  app: {password: {env: NOT_SET}}\n");
        REQUIRE_FALSE(result.ok());
        CHECK(has(result, "test.yaml:3:25: error: users.app.password: environment variable NOT_SET is not set"));
    }
    SECTION("an unreadable file names the path") {
        auto result = load("databases: {app: {}}\nusers:\n  app: {password: {file: /nope}}\n");
        REQUIRE_FALSE(result.ok());
        CHECK(has(result, "cannot read secret file /nope"));
    }
    SECTION("a SCRAM verifier from the environment is recognised") {
        auto result = load("databases: {app: {}}\nusers:\n  app: {password: {env: VERIFIER}}\n");
        REQUIRE(result.ok());
        CHECK(result.config->users.at("app").password->kind == Secret::Kind::scram_verifier);
    }
    SECTION("a forced user's password given as a SCRAM verifier is an error, not ignored") {
        auto result = load("databases:\n  app: {user: reporting, password: {env: VERIFIER}}\nusers:\n  app: {password: {env: APP_PASSWORD}}\n");
        REQUIRE_FALSE(result.ok());
        CHECK(has(result, "test.yaml:2:36: error: databases.app.password (env VERIFIER) is a SCRAM verifier"));
        CHECK_FALSE(has(result, "c2FsdHNhbHQ="));
    }
    SECTION("a malformed verifier is an error that does not echo it") {
        auto result = load("databases: {app: {}}\nusers:\n  app: {password: 'SCRAM-SHA-256$abc:zzz-secret-part'}\n");
        REQUIRE_FALSE(result.ok());
        CHECK(has(result, "starts like a SCRAM verifier"));
        CHECK_FALSE(has(result, "zzz-secret-part"));
    }
}

TEST_CASE("YAML syntax errors and structural mistakes are located", "[config]") {
    CHECK(has(load("databases: [unclosed\n"), "test.yaml:"));
    CHECK(has(load("- just\n- a list\n"), "test.yaml:1:1: error: the config must be a map"));
    CHECK(has(load("users:\n  app: {password: {env: APP_PASSWORD}}\n"), "no databases"));
    CHECK(has(load("databases: {app: {}}\nusers:\n  app: {}\n"), "test.yaml:3:3: error: users.app has no password"));
    auto trust = load("auth_type: trust\ndatabases: {app: {}}\n");
    CHECK(trust.ok());
    CHECK(has(trust, "warning: auth_type trust"));
}

TEST_CASE("worker_spread_above is a percent of one core, 0 to 100", "[config]") {
    auto result = load("worker_spread_above: 0\n" + kMinimal);
    REQUIRE(result.ok());
    CHECK(result.config->worker_spread_above == 0);
    auto bad = load("worker_spread_above: 150\n" + kMinimal);
    REQUIRE_FALSE(bad.ok());
    CHECK(has(bad, "test.yaml:1:22: error: worker_spread_above"));
}

TEST_CASE("limits.client_write_timeout is off by default, else at least a second", "[config]") {
    auto result = load("limits: {client_write_timeout: 30s}\n" + kMinimal);
    REQUIRE(result.ok());
    CHECK(result.config->limits.client_write_timeout == std::chrono::seconds(30));
    REQUIRE(load("limits: {client_write_timeout: 0}\n" + kMinimal).ok());
    auto short_one = load("limits: {client_write_timeout: 500ms}\n" + kMinimal);
    CHECK_FALSE(short_one.ok());
    CHECK(has(short_one, "test.yaml:1:32: error: limits.client_write_timeout must be 0 (off) or at least 1s"));
    auto no_unit = load("limits: {client_write_timeout: 30}\n" + kMinimal);
    CHECK_FALSE(no_unit.ok());
    CHECK(has(no_unit, "limits.client_write_timeout needs a unit"));
}

TEST_CASE("listen.unix_socket_mode is an octal mode, 0777 by default, and bad ones are refused", "[config]") {
    CHECK(load(kMinimal).config->listen.unix_socket_mode == 0777);
    for (const std::string written : {"0770", "770", "'0770'", "0o770"}) {
        INFO(written);
        auto result = load("listen: {unix_socket_mode: " + written + "}\n" + kMinimal);
        REQUIRE(result.ok());
        CHECK(result.config->listen.unix_socket_mode == 0770);
    }
    for (const std::string written : {"0778", "01777", "rw", "''", "-1", "[1]"}) {
        INFO(written);
        auto result = load("listen: {unix_socket_mode: " + written + "}\n" + kMinimal);
        CHECK_FALSE(result.ok());
        CHECK(has(result, "test.yaml:1:28: error: listen.unix_socket_mode"));
    }
    auto unreadable = load("listen: {unix_socket_mode: 0070}\n" + kMinimal);
    REQUIRE(unreadable.ok());
    CHECK(has(unreadable, "warning: listen.unix_socket_mode 0070 does not let pgsluice's own user read and write"));
}

TEST_CASE("TCP keepalive and user timeout take PgBouncer's names, and 0 leaves the OS default", "[config]") {
    auto defaults = load(kMinimal);
    REQUIRE(defaults.ok());
    CHECK(defaults.config->tcp.keepalive);
    CHECK(defaults.config->tcp.keepidle == Duration::zero());
    CHECK(defaults.config->tcp.keepcnt == 0);
    CHECK(defaults.config->tcp.user_timeout == Duration::zero());

    auto tuned = load(kMinimal + "tcp_keepidle: 10s\ntcp_keepintvl: 2s\ntcp_keepcnt: 3\ntcp_user_timeout: 5000ms\n");
    INFO(all_messages(tuned));
    REQUIRE(tuned.ok());
    CHECK(tuned.config->tcp.keepidle == std::chrono::seconds(10));
    CHECK(tuned.config->tcp.keepintvl == std::chrono::seconds(2));
    CHECK(tuned.config->tcp.keepcnt == 3);
    CHECK(tuned.config->tcp.user_timeout == std::chrono::seconds(5));

    auto bad = load(kMinimal + "tcp_keepidle: 1500ms\ntcp_keepcnt: 500\ntcp_keepalive: maybe\n");
    CHECK_FALSE(bad.ok());
    CHECK(has(bad, "test.yaml:5:15: error: tcp_keepidle must be whole seconds"));
    CHECK(has(bad, "tcp_keepcnt"));
    CHECK(has(bad, "tcp_keepalive"));

    auto pointless = load(kMinimal + "tcp_keepalive: false\ntcp_keepidle: 10s\n");
    REQUIRE(pointless.ok());
    CHECK(has(pointless, "do nothing while tcp_keepalive is off"));
}
