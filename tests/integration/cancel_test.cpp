// A cancel reaches the query of the client that sent it, and no other.
#include <catch2/catch.hpp>

#include <thread>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("a cancel request stops that client's query and not a concurrent client's", "[integration]") {
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
