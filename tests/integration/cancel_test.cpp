// A cancel reaches the query of the client that sent it, and no other.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "harness/cancel_sleep.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("a cancel request stops that client's query and not a concurrent client's", "[integration][threads]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 2));
    Connection victim(proxy.conninfo());
    Connection bystander(proxy.conninfo());
    std::string victim_state, bystander_result;
    std::thread victim_thread([&] {
        try {
            victim.exec("select pg_sleep(20)");
        } catch (const PgError& e) {
            victim_state = e.sqlstate;
        }
    });
    std::thread bystander_thread([&] { bystander_result = bystander.scalar("select 'done' from pg_sleep(1.5)"); });
    Connection monitor(postgres.superuser_conninfo());
    REQUIRE(harness::wait_until([&] {
        return monitor.scalar("select count(*) from pg_stat_activity where query like 'select pg_sleep(20)%' and state = 'active'") == "1";
    }));
    const auto started = std::chrono::steady_clock::now();
    PGcancel* cancel = PQgetCancel(victim.raw());
    char error[256];
    CHECK(PQcancel(cancel, error, sizeof error) == 1);
    PQfreeCancel(cancel);
    victim_thread.join();
    bystander_thread.join();
    CHECK(victim_state == "57014");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    CHECK(bystander_result == "done");
    CHECK(victim.scalar("select 'usable after cancel'") == "usable after cancel");
}

namespace {

// The config with database "app" on `postgres` (for a reload that moves it there).
std::string config_on(const PostgresServer& postgres, const std::string& mode) {
    return Pgsluice::config_prelude("  pool_mode: " + mode + "\n  pool_size: 2\n") +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: " + std::to_string(postgres.port()) + "}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

}  // namespace

TEST_CASE("after a reload moves the database, a cancel goes to the server the client holds, on the old host",
          "[integration][reload][threads]") {
    PostgresServer old_host;
    PostgresServer new_host;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(old_host, config_on(old_host, mode));
    Connection client(proxy.conninfo());
    // The sleep starts on the old host; the reload comes while it runs.
    CancellableSleep sleep(client, old_host);
    REQUIRE(sleep.started());
    proxy.write_config(config_on(new_host, mode));
    CHECK(proxy.reload());
    // New clients go to the new host now.
    {
        Connection newcomer(proxy.conninfo());
        CHECK(newcomer.scalar("select inet_server_port()") == std::to_string(new_host.port()));
    }
    const auto cancelled_at = std::chrono::steady_clock::now();
    CHECK(sleep.cancel() == "57014");
    CHECK(std::chrono::steady_clock::now() - cancelled_at < std::chrono::seconds(10));
}

TEST_CASE("a client that logged in before a reload moved the database has its query on the new host cancelled",
          "[integration][reload][threads]") {
    PostgresServer old_host;
    PostgresServer new_host;
    Pgsluice proxy(old_host, config_on(old_host, "transaction"));
    Connection client(proxy.conninfo());  // logs in on the old host
    CHECK(client.scalar("select inet_server_port()") == std::to_string(old_host.port()));
    proxy.write_config(config_on(new_host, "transaction"));
    REQUIRE(proxy.reload());
    // Its next transaction runs on the new host; the cancel must go there too.
    CHECK(cancel_sleep(client, new_host) == "57014");
    CHECK(client.scalar("select inet_server_port()") == std::to_string(new_host.port()));
}
