// Timeouts end what would otherwise hold a server forever, with the SQLSTATE PostgreSQL
// itself uses for the same situation.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {
std::string error_of(Connection& client, const std::string& sql) {
    try {
        client.exec(sql);
    } catch (const PgError& e) {
        return e.sqlstate.empty() ? std::string("no sqlstate: ") + e.what() : e.sqlstate;
    }
    return "no error";
}
}  // namespace

TEST_CASE("idle_transaction_timeout closes a client idle inside a transaction and frees its server", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  idle_transaction_timeout: 500ms\n"));
    Connection idler(proxy.conninfo());
    idler.exec("begin");
    CHECK(proxy.wait_for_log("idle_transaction_timeout"));
    // The server went back to the pool (closed and replaced): another client gets one.
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 'served'") == "served");
    CHECK(error_of(idler, "select 1") != "no error");
}

TEST_CASE("client_idle_timeout closes idle clients in transaction and session mode", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1, "  client_idle_timeout: 500ms\n"));
    Connection idler(proxy.conninfo());
    CHECK(idler.scalar("select 1") == "1");
    CHECK(proxy.wait_for_log("client_idle_timeout"));
    CHECK(error_of(idler, "select 1") != "no error");
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 'served'") == "served");
}

TEST_CASE("query_timeout cancels a query that runs too long with 57014 and the session goes on", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    // 1.5 s against statements of 0.4 s: a margin that holds when the other tests running
    // beside this one load both cores.
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1, "  query_timeout: 1500ms\n"));
    {
        Connection client(proxy.conninfo());
        const auto started = std::chrono::steady_clock::now();
        CHECK(error_of(client, "select pg_sleep(30)") == "57014");
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
        CHECK(client.scalar("select 'still connected'") == "still connected");
        // Statements inside the limit are untouched, even in a transaction longer than it.
        client.exec("begin");
        client.exec("select pg_sleep(0.4)");
        client.exec("select pg_sleep(0.4)");
        client.exec("select pg_sleep(0.4)");
        client.exec("select pg_sleep(0.4)");
        client.exec("commit");
    }
    Connection monitor(postgres.superuser_conninfo());
    CHECK(wait_until([&] {
        return monitor.scalar("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == "0";
    }));
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 'fast query'") == "fast query");
}

// The cancel that query_timeout sends runs detached from the session: it must own what it
// needs. A backend reached through its Unix socket directory has an address long enough to
// live on the heap, so AddressSanitizer sees the cancel read it after the session moved on.
TEST_CASE("query_timeout cancels a query on a backend reached through its Unix socket", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    Pgsluice proxy(postgres, Pgsluice::config_prelude("  pool_mode: " + mode +
                                                      "\n  pool_size: 1\n  query_timeout: 500ms\n") +
                                 "databases:\n"
                                 "  app: {host: {PG_SOCKET_DIR}, port: {PG_PORT}}\n"
                                 "users:\n"
                                 "  app: {password: {env: APP_PASSWORD}}\n");
    Connection client(proxy.conninfo());
    const auto started = std::chrono::steady_clock::now();
    CHECK(error_of(client, "select pg_sleep(30)") == "57014");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    CHECK(client.scalar("select 'still connected'") == "still connected");
    CHECK(proxy.wait_for_log("cancel request sent to"));
}
