// Reload (SIGHUP) applies a new config without a restart and without failing a single
// transaction; an invalid one is refused with its errors and the old one keeps serving.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <thread>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

const std::string kPgbench = "/usr/lib/postgresql/15/bin/pgbench";

// Server connections pgsluice holds, asked of PostgreSQL directly.
int app_backends(Connection& monitor) {
    return std::stoi(monitor.scalar(
        "select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'"));
}

std::string config_with(int pool_size, const std::string& extra_databases = "") {
    return Pgsluice::config_prelude("  pool_mode: transaction\n"
                                    "  pool_size: " + std::to_string(pool_size) + "\n"
                                    "  query_wait_timeout: 30s\n") +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n" + extra_databases +
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

}  // namespace

TEST_CASE("a pool_size reload under pgbench load shrinks and grows the server connections with no failed transaction",
          "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with(4));
    Connection monitor(postgres.superuser_conninfo());
    TempDir dir("pgsluice-pgbench");
    const std::string script = dir.path() + "/tx.sql";
    write_file(script, "begin;\nselect pg_sleep(0.01);\ncommit;\n");
    const std::string output = dir.path() + "/pgbench.out";
    Process pgbench({{kPgbench, "-n", "-c", "8", "-j", "2", "-T", "6", "-f", script, "-h", "127.0.0.1", "-p",
                      std::to_string(proxy.port()), "-U", "app", "app"},
                     output,
                     "",
                     {std::string("PGPASSWORD=") + PostgresServer::kAppPassword}});

    // Eight clients keep all four servers open.
    REQUIRE(wait_until([&] { return app_backends(monitor) == 4; }));

    proxy.write_config(config_with(2));
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("databases.app.pool_size: 4 -> 2") != std::string::npos);
    // The excess servers close as their transactions end, then the bound holds.
    REQUIRE(wait_until([&] { return app_backends(monitor) <= 2; }, std::chrono::seconds(5)));
    int most_seen = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
    while (std::chrono::steady_clock::now() < until) {
        most_seen = std::max(most_seen, app_backends(monitor));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(most_seen <= 2);

    proxy.write_config(config_with(3));
    REQUIRE(proxy.reload());
    CHECK(wait_until([&] { return app_backends(monitor) == 3; }, std::chrono::seconds(5)));

    REQUIRE(wait_until([&] { return !pgbench.running(); }, std::chrono::seconds(20)));
    const auto report = read_file(output);
    INFO(report);
    CHECK(pgbench.exit_code() == 0);
    CHECK(report.find("number of failed transactions: 0 ") != std::string::npos);
    CHECK(app_backends(monitor) <= 3);
}

TEST_CASE("an invalid config on reload is refused with file line and column and the old one keeps serving",
          "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with(2));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");

    auto broken = config_with(2);
    broken.replace(broken.find("  pool_size"), 11, "  pool_szie");
    proxy.write_config(broken);
    CHECK_FALSE(proxy.reload());
    const auto log = proxy.log();
    const auto line = std::count(broken.begin(), broken.begin() + broken.find("pool_szie"), '\n') + 1;
    CHECK(log.find(proxy.config_path() + ":" + std::to_string(line) + ":3: error: unknown key 'pool_szie'") !=
          std::string::npos);
    CHECK(log.find("reload failed, keeping the old config") != std::string::npos);

    // Existing and new clients are served by the old config.
    CHECK(client.scalar("select 2") == "2");
    Connection newcomer(proxy.conninfo());
    CHECK(newcomer.scalar("select 3") == "3");
    CHECK(proxy.running());
}

TEST_CASE("a database added by reload is usable at once and a removed one refuses new logins while its clients stay",
          "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with(2));
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "reports") == "3D000");

    proxy.write_config(config_with(2, "  reports: {host: 127.0.0.1, port: {PG_PORT}, dbname: app}\n"));
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("databases.reports: added") != std::string::npos);
    Connection reports(proxy.conninfo("app", PostgresServer::kAppPassword, "reports"));
    CHECK(reports.scalar("select current_database()") == "app");

    proxy.write_config(config_with(2));
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("databases.reports: removed") != std::string::npos);
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "reports") == "3D000");
    // The client that was already there drains: it keeps its session until it leaves.
    CHECK(reports.scalar("select 42") == "42");
}

TEST_CASE("a changed database port on reload moves new transactions to the new server", "[integration][reload]") {
    PostgresServer first;
    PostgresServer second;
    Pgsluice proxy(first, config_with(2));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select current_setting('port')") == std::to_string(first.port()));

    auto moved = config_with(2);
    moved.replace(moved.find("{PG_PORT}"), 9, std::to_string(second.port()));
    proxy.write_config(moved);
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("databases.app.port: " + std::to_string(first.port()) + " -> " +
                           std::to_string(second.port())) != std::string::npos);
    // The next transaction runs on a server of the new target.
    CHECK(wait_until([&] { return client.scalar("select current_setting('port')") == std::to_string(second.port()); },
                     std::chrono::seconds(5)));
}

TEST_CASE("a reload that changes listen.port says it needs a restart and keeps listening where it was",
          "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with(2));
    auto moved = config_with(2);
    moved.replace(moved.find("port: {PORT}"), 12, "port: " + std::to_string(free_port()));
    proxy.write_config(moved);
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("listen.port: ") != std::string::npos);
    CHECK(proxy.log().find("needs a restart, not applied") != std::string::npos);
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");
}

TEST_CASE("with watch_config a rewritten config file is reloaded without a signal", "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, "watch_config: true\n" + config_with(2));
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "reports") == "3D000");
    proxy.write_config("watch_config: true\n" +
                       config_with(2, "  reports: {host: 127.0.0.1, port: {PG_PORT}, dbname: app}\n"));
    REQUIRE(proxy.wait_for_log("config reloaded from"));
    Connection reports(proxy.conninfo("app", PostgresServer::kAppPassword, "reports"));
    CHECK(reports.scalar("select 1") == "1");
}

TEST_CASE("a password changed by reload is used for new server logins and never logged", "[integration][reload]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with(2));
    Connection client(proxy.conninfo());
    const auto old_backend = client.scalar("select pg_backend_pid()");

    Connection admin(postgres.superuser_conninfo());
    admin.exec("ALTER ROLE app PASSWORD 'rotated-secret'");
    auto rotated = config_with(2);
    rotated.replace(rotated.find("{env: APP_PASSWORD}"), 19, "rotated-secret");
    proxy.write_config(rotated);
    REQUIRE(proxy.reload());
    CHECK(proxy.log().find("users.app.password: password changed") != std::string::npos);
    CHECK(proxy.log().find("rotated-secret") == std::string::npos);

    // The server logged in with the old password was closed; the client's next transaction
    // runs on a new server that logged in with the new one (the old one would be refused now).
    CHECK(client.scalar("select pg_backend_pid()") != old_backend);
    Connection newcomer(proxy.conninfo("app", "rotated-secret"));
    CHECK(newcomer.scalar("select 3") == "3");
}
