// SIGTERM drains: transactions in flight finish, new work is refused, the process exits 0.
// A second SIGTERM, or SIGINT, exits at once.
#include <catch2/catch.hpp>

#include <csignal>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

// Starts `sql` without waiting for its result.
void send_query(Connection& connection, const std::string& sql) {
    REQUIRE(PQsendQuery(connection.raw(), sql.c_str()) == 1);
}

// Waits for the result of send_query; true when it succeeded.
bool finish_query(Connection& connection) {
    bool ok = true;
    while (PGresult* result = PQgetResult(connection.raw())) {
        const auto status = PQresultStatus(result);
        ok &= status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
        PQclear(result);
    }
    return ok;
}

}  // namespace

TEST_CASE("SIGTERM lets a running transaction commit, refuses new connections, then exits 0", "[integration][lifecycle]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection client(proxy.conninfo());
    Connection app_admin(postgres.superuser_conninfo("app"));
    app_admin.exec("CREATE TABLE drained (v int)");
    app_admin.exec("GRANT ALL ON drained TO app");

    client.exec("begin");
    client.exec("insert into drained values (1)");
    send_query(client, "select pg_sleep(1)");
    proxy.process().signal(SIGTERM);
    REQUIRE(proxy.wait_for_log("stopped accepting"));
    CHECK_FALSE(Connection::try_connect(proxy.conninfo()));
    CHECK(proxy.running());

    CHECK(finish_query(client));
    client.exec("commit");
    CHECK(app_admin.scalar("select count(*) from drained") == "1");

    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(10)));
    CHECK(proxy.process().exit_code() == 0);
    CHECK(proxy.log().find("drain complete") != std::string::npos);
}

TEST_CASE("during the drain a client's next transaction gets 57P01 while another finishes", "[integration][lifecycle]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection busy(proxy.conninfo());
    Connection idle(proxy.conninfo());
    CHECK(idle.scalar("select 1") == "1");
    busy.exec("begin");
    busy.exec("select 1");

    proxy.process().signal(SIGTERM);
    REQUIRE(proxy.wait_for_log("stopped accepting"));
    CHECK(query_error(idle, "select 2").find("FATAL:  57P01: pgsluice is shutting down") != std::string::npos);
    CHECK(proxy.running());  // the open transaction holds the drain

    busy.exec("commit");
    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(10)));
    INFO(proxy.log());
    CHECK(proxy.process().exit_code() == 0);
}

TEST_CASE("a client idle through the whole drain is told 57P01 before pgsluice exits", "[integration][lifecycle]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    INFO(mode);
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 2));
    Connection bystander(proxy.conninfo());
    CHECK(bystander.scalar("select 1") == "1");
    proxy.process().signal(SIGTERM);
    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(10)));
    CHECK(proxy.process().exit_code() == 0);
    INFO(proxy.log());
    CHECK(proxy.log().find("connected client(s) that pgsluice is shutting down") != std::string::npos);
    // The FATAL waited in the socket; libpq reports it with the next query.
    CHECK(query_error(bystander, "select 2").find("FATAL:  57P01: pgsluice is shutting down") != std::string::npos);
}

TEST_CASE("a second SIGTERM exits at once without waiting for the transaction", "[integration][lifecycle]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2, "  query_wait_timeout: 5s\n") +
                                 "shutdown_timeout: 60s\n");
    Connection client(proxy.conninfo());
    client.exec("begin");
    proxy.process().signal(SIGTERM);
    REQUIRE(proxy.wait_for_log("stopped accepting"));
    const auto started = std::chrono::steady_clock::now();
    proxy.process().signal(SIGTERM);
    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(5)));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    CHECK(proxy.log().find("second SIGTERM: exiting now") != std::string::npos);
}

TEST_CASE("the drain ends at shutdown_timeout when a transaction stays open", "[integration][lifecycle]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2) + "shutdown_timeout: 1s\n");
    Connection client(proxy.conninfo());
    client.exec("begin");
    proxy.process().signal(SIGTERM);
    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(10)));
    CHECK(proxy.process().exit_code() == 0);
    CHECK(proxy.log().find("shutdown_timeout (1000 ms) passed with 1 transaction(s) still in flight") !=
          std::string::npos);
}

TEST_CASE("a session-mode client is told 57P01 at its next idle point during the drain", "[integration][lifecycle]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 2));
    Connection holder(proxy.conninfo());
    Connection session(proxy.conninfo());
    holder.exec("begin");  // keeps the drain going
    // The session's statement blocks on a lock the test holds, so that it is surely still
    // running when the drain begins.
    Connection locker(postgres.superuser_conninfo("app"));
    locker.exec("select pg_advisory_lock(1)");
    send_query(session, "select pg_advisory_lock(1)");
    REQUIRE(wait_until([&] {
        return locker.scalar("select count(*) from pg_locks where locktype = 'advisory' and not granted") == "1";
    }));
    proxy.process().signal(SIGTERM);
    REQUIRE(proxy.wait_for_log("stopped accepting"));
    locker.exec("select pg_advisory_unlock(1)");
    CHECK(finish_query(session));  // the statement in flight completes
    const auto error = query_error(session, "select 1");
    INFO(error);
    INFO(proxy.log());
    CHECK(error.find("FATAL:  57P01: pgsluice is shutting down") != std::string::npos);
    holder.exec("commit");
    REQUIRE(wait_until([&] { return !proxy.running(); }, std::chrono::seconds(10)));
    CHECK(proxy.process().exit_code() == 0);
}
