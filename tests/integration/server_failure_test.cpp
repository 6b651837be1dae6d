// When PostgreSQL or one of its backends goes away, clients get a clear error quickly and
// pgsluice recovers by itself once the server is back.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("a server killed mid-transaction gives its client an error and is replaced for the next", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection monitor(postgres.superuser_conninfo());
    Connection victim(proxy.conninfo());
    victim.exec("begin");
    const auto backend = victim.scalar("select pg_backend_pid()");
    monitor.exec("select pg_terminate_backend(" + backend + ")");
    std::string state;
    try {
        victim.exec("select 1");
    } catch (const PgError& e) {
        state = e.sqlstate.empty() ? "connection lost" : e.sqlstate;
    }
    CHECK_FALSE(state.empty());
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select pg_backend_pid()") != backend);
    CHECK(next.scalar("select 'fresh server'") == "fresh server");
}

TEST_CASE("an idle server that died is noticed and replaced before a client uses it", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection monitor(postgres.superuser_conninfo());
    Connection client(proxy.conninfo());
    const auto first = client.scalar("select pg_backend_pid()");
    monitor.exec("select pg_terminate_backend(" + first + ")");
    REQUIRE(wait_until([&] {
        return monitor.scalar("select count(*) from pg_stat_activity where pid = " + first) == "0";
    }));
    // The pooled server is dead; the client's next transaction gets a new one, no error.
    CHECK(client.scalar("select pg_backend_pid()") != first);
}

TEST_CASE("with PostgreSQL down clients fail fast, and pgsluice recovers when it is back", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2, "  query_wait_timeout: 60s\n  server_connect_timeout: 2s\n"));
    {
        Connection before(proxy.conninfo());
        CHECK(before.scalar("select 1") == "1");
    }
    postgres.stop();
    const auto started = std::chrono::steady_clock::now();
    auto state = login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app");
    CHECK(state.has_value());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));  // not query_wait_timeout
    CHECK(proxy.running());
    postgres.start();
    CHECK(wait_until([&] { return Connection::try_connect(proxy.conninfo()); }, std::chrono::seconds(20)));
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 'recovered'") == "recovered");
}

TEST_CASE("min_pool_size keeps servers open before any client asks", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 4, "  min_pool_size: 3\n"));
    {
        Connection first(proxy.conninfo());  // the pool exists once a client has used it
        CHECK(first.scalar("select 1") == "1");
    }
    Connection monitor(postgres.superuser_conninfo());
    CHECK(wait_until([&] {
        return monitor.scalar("select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'") == "3";
    }));
}
