// What one client does to its server never reaches the next client of that server.
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

TEST_CASE("session mode: a SET by one client is not seen by the next client on the same server", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 1));
    std::string backend_pid;
    {
        Connection first(proxy.conninfo());
        first.exec("set work_mem = '77MB'");
        first.exec("create temp table scratch(x int)");
        first.exec("prepare leftover as select 1");
        CHECK(first.scalar("show work_mem") == "77MB");
        backend_pid = first.scalar("select pg_backend_pid()");
    }
    Connection second(proxy.conninfo());
    CHECK(second.scalar("select pg_backend_pid()") == backend_pid);  // the same server, reused
    CHECK(second.scalar("show work_mem") == "4MB");
    CHECK(second.scalar("select count(*) from pg_prepared_statements") == "0");
    CHECK(second.scalar("select count(*) from pg_class where relname = 'scratch'") == "0");
}

TEST_CASE("a client that vanishes mid-transaction does not hand its transaction to the next client", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1));
    {
        Connection setup(proxy.conninfo());
        setup.exec("create table ledger(id int)");
    }
    {
        Connection leaver(proxy.conninfo());
        leaver.exec("begin");
        leaver.exec("insert into ledger values (1)");
        // Closed here without COMMIT: libpq sends Terminate while the server is in a transaction.
    }
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select count(*) from ledger") == "0");
    CHECK(next.scalar("select now() = statement_timestamp()") == "t");  // not inside an old transaction
    next.exec("insert into ledger values (2)");
    Connection monitor(postgres.superuser_conninfo("app"));
    CHECK(monitor.scalar("select count(*) from ledger") == "1");
}

TEST_CASE("a client whose connection drops mid-transaction, with no Terminate, frees its server for the next client",
          "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    // With one server, a session that kept it would leave the next client waiting: the
    // wait timeout turns that into an error instead of a hang.
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1, "  query_wait_timeout: 5s\n"));
    {
        Connection setup(proxy.conninfo());
        setup.exec("create table ledger(id int)");
    }
    {
        Connection leaver(proxy.conninfo());
        leaver.exec("begin");
        leaver.exec("insert into ledger values (1)");
        // As when the client's host goes away: pgsluice reads EOF between two statements.
        ::shutdown(PQsocket(leaver.raw()), SHUT_RDWR);
    }
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select count(*) from ledger") == "0");
    CHECK(next.scalar("select now() = statement_timestamp()") == "t");
}

TEST_CASE("transaction mode: many clients share one server without seeing each other's transactions", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection a(proxy.conninfo());
    Connection b(proxy.conninfo());
    a.exec("create table t(x int)");
    a.exec("begin");
    a.exec("insert into t values (1)");
    a.exec("commit");
    b.exec("begin");
    b.exec("set local work_mem = '99MB'");
    CHECK(b.scalar("show work_mem") == "99MB");
    b.exec("commit");
    CHECK(a.scalar("show work_mem") == "4MB");
    CHECK(a.scalar("select count(*) from t") == "1");
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
}
