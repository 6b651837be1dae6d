// Config diff: every changed key with its path, restart-only keys marked, secrets never shown.
#include <catch2/catch.hpp>

#include "config/diff.hpp"
#include "config/loader.hpp"

using namespace pgsluice::config;

namespace {

SecretResolver fake_secrets() {
    SecretResolver resolver;
    resolver.env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "OLD_PW") return "old-secret-value";
        if (name == "NEW_PW") return "new-secret-value";
        return std::nullopt;
    };
    resolver.file = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    return resolver;
}

Config load(const std::string& yaml) {
    auto result = load_config(yaml, "test.yaml", fake_secrets());
    REQUIRE(result.ok());
    return *result.config;
}

std::vector<std::string> formatted(const std::vector<Change>& changes) {
    std::vector<std::string> out;
    for (const auto& change : changes) out.push_back(change.format());
    return out;
}

const std::string kBase =
    "listen: {port: 6432}\n"
    "databases:\n"
    "  app: {host: db1, pool_size: 10}\n"
    "  old: {host: db1}\n"
    "users:\n"
    "  app: {password: {env: OLD_PW}}\n";

}  // namespace

TEST_CASE("identical configs have no changes", "[config][diff]") {
    CHECK(diff_configs(load(kBase), load(kBase)).empty());
}

TEST_CASE("TCP keepalive settings apply live, to sockets opened after the reload", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load(kBase + "tcp_keepalive: false\ntcp_user_timeout: 3s\n"));
    CHECK(formatted(changes) == std::vector<std::string>{"tcp_keepalive: true -> false", "tcp_user_timeout: 0s -> 3s"});
    for (const auto& change : changes) CHECK_FALSE(change.needs_restart);
}

TEST_CASE("limits.client_write_timeout applies live", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load(kBase + "limits: {client_write_timeout: 1m}\n"));
    CHECK(formatted(changes) == std::vector<std::string>{"limits.client_write_timeout: 0s -> 60s"});
    for (const auto& change : changes) CHECK_FALSE(change.needs_restart);
}

TEST_CASE("diff names each changed key, added and removed entries", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load("listen: {port: 6432}\n"
                                                  "databases:\n"
                                                  "  app: {host: db2, pool_size: 20, query_timeout: 1500ms}\n"
                                                  "users:\n"
                                                  "  app: {password: {env: OLD_PW}}\n"
                                                  "  bob: {password: {env: NEW_PW}}\n"));
    CHECK(formatted(changes) == std::vector<std::string>{
                                    "databases.app.host: db1 -> db2",
                                    "databases.app.pool_size: 10 -> 20",
                                    "databases.app.query_timeout: 0s -> 1500ms",
                                    "databases.old: removed",
                                    "users.bob: added",
                                });
    for (const auto& change : changes) CHECK_FALSE(change.needs_restart);
}

TEST_CASE("listen, workers and metrics changes need a restart", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load("listen: {port: 7000}\nworkers: 4\nmetrics: {port: 9000}\n" +
                                                  kBase.substr(kBase.find("databases:"))));
    REQUIRE(changes.size() == 3);
    CHECK(changes[0].format() == "listen.port: 6432 -> 7000 (needs a restart, not applied live)");
    CHECK(changes[1].format() == "workers: auto -> 4 (needs a restart, not applied live)");
    CHECK(changes[2].path == "metrics.port");
    for (const auto& change : changes) CHECK(change.needs_restart);
}

TEST_CASE("worker_spread_above applies live", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load("worker_spread_above: 0\n" + kBase));
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].format() == "worker_spread_above: 70 -> 0");
}

TEST_CASE("a changed password says so and never shows either value", "[config][diff]") {
    auto changes = diff_configs(load(kBase), load(kBase.substr(0, kBase.find("OLD_PW")) + "NEW_PW}}\n"));
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].format() == "users.app.password: password changed");
    CHECK(changes[0].format().find("secret-value") == std::string::npos);
}

TEST_CASE("defaults changes show on defaults and on the databases that inherit them", "[config][diff]") {
    auto changes = diff_configs(load("defaults: {pool_mode: session}\n" + kBase),
                                load("defaults: {pool_mode: transaction}\n" + kBase));
    CHECK(formatted(changes) == std::vector<std::string>{
                                    "defaults.pool_mode: session -> transaction",
                                    "databases.app.pool_mode: session -> transaction",
                                    "databases.old.pool_mode: session -> transaction",
                                });
}

TEST_CASE("watch_config is a boolean key, off by default", "[config][diff]") {
    CHECK_FALSE(load(kBase).watch_config);
    CHECK(load("watch_config: true\n" + kBase).watch_config);
    auto bad = load_config("watch_config: sometimes\n" + kBase, "test.yaml", fake_secrets());
    CHECK_FALSE(bad.ok());
}

TEST_CASE("max_prepared_statements and its per-client bound are pool settings, shown in a diff", "[config][diff]") {
    const auto config = load(kBase);
    CHECK(config.defaults.max_prepared_statements == 200);
    CHECK(config.defaults.max_client_prepared_statements == 1000);
    auto changes = diff_configs(config, load("defaults: {max_prepared_statements: 0, max_client_prepared_statements: 50}\n" + kBase));
    CHECK(formatted(changes) == std::vector<std::string>{
                                    "defaults.max_prepared_statements: 200 -> 0",
                                    "defaults.max_client_prepared_statements: 1000 -> 50",
                                    "databases.app.max_prepared_statements: 200 -> 0",
                                    "databases.app.max_client_prepared_statements: 1000 -> 50",
                                    "databases.old.max_prepared_statements: 200 -> 0",
                                    "databases.old.max_client_prepared_statements: 1000 -> 50",
                                });
    auto per_database = load("databases:\n  app: {host: db1, max_prepared_statements: 2}\nusers:\n  app: {password: {env: OLD_PW}}\n");
    CHECK(per_database.databases.at("app").pool.max_prepared_statements == 2);
    CHECK_FALSE(load_config("defaults: {max_client_prepared_statements: 0}\n" + kBase, "test.yaml", fake_secrets()).ok());
    CHECK_FALSE(load_config("defaults: {max_prepared_statements: -1}\n" + kBase, "test.yaml", fake_secrets()).ok());
}
