// Transaction pooling hands one server to many clients: what a transaction leaves behind
// on purpose (SET LOCAL, ON COMMIT DROP temp tables) must be gone for the next client.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

TEST_CASE("transaction mode: SET LOCAL and ON COMMIT DROP temp tables do not reach the next client", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection a(proxy.conninfo());
    Connection b(proxy.conninfo());
    const auto a_pid = a.scalar("select pg_backend_pid()");

    a.exec("begin");
    a.exec("set local statement_timeout = '4321ms'");
    a.exec("create temp table scratch(x int) on commit drop");
    a.exec("insert into scratch values (1), (2)");
    CHECK(a.scalar("show statement_timeout") == "4321ms");
    CHECK(a.scalar("select count(*) from scratch") == "2");
    a.exec("commit");

    CHECK(b.scalar("select pg_backend_pid()") == a_pid);  // the same, single server
    CHECK(b.scalar("show statement_timeout") == "0");
    CHECK(b.scalar("select to_regclass('pg_temp.scratch') is null") == "t");
    CHECK(b.scalar("select count(*) from pg_class where relname = 'scratch'") == "0");
    try {
        b.exec("select * from scratch");
        FAIL("the temp table of another client was visible");
    } catch (const PgError& e) {
        CHECK(e.sqlstate == "42P01");  // undefined_table
    }
    // The failed statement ended its own implicit transaction: the server is usable again.
    CHECK(a.scalar("select 'still fine'") == "still fine");
}

// Statement pooling gives the server back after every statement, so it refuses a transaction
// block (as PgBouncer does): on the quick path as on the coroutine one, the client is told
// why and its server, inside the transaction it opened, is closed rather than reused.
TEST_CASE("statement mode: a transaction block is refused and its open transaction never reaches another client",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("statement", 1));
    Connection a(proxy.conninfo());
    CHECK(a.scalar("select 'plain statements pass'") == "plain statements pass");
    const auto first_pid = a.scalar("select pg_backend_pid()");
    try {
        a.exec("begin");
        FAIL("statement mode let a transaction block open");
    } catch (const PgError& e) {
        // The FATAL comes as BEGIN's answer, in place of its ReadyForQuery (libpq then
        // reports the close that follows, with the message, but without the SQLSTATE).
        CHECK(std::string(e.what()).find("transaction blocks not allowed in statement pooling mode") != std::string::npos);
    }
    CHECK(proxy.wait_for_log("transaction block in statement pooling mode"));

    Connection b(proxy.conninfo());
    CHECK(b.scalar("select pg_backend_pid()") != first_pid);  // that server was closed
    CHECK(b.scalar("select count(*) from pg_stat_activity where state like 'idle in transaction%'") == "0");
    CHECK(b.scalar("select 'next client served'") == "next client served");
}
