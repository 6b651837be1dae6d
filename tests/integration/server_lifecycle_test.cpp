// How long servers live and when they are checked (server_idle_timeout, server_lifetime,
// server_check_delay / server_check_query), what a client hears when its server dies under
// it (08006), and max_client_conn, all as PostgreSQL and real clients see them.
#include <catch2/catch.hpp>

#include <optional>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

const std::string kAppBackends =
    "select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'";

}  // namespace

TEST_CASE("server_idle_timeout closes a server left idle, and the next client gets a new one", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2, "  server_idle_timeout: 1s\n"));
    Connection monitor(postgres.superuser_conninfo());
    Connection client(proxy.conninfo());
    const auto first = client.scalar("select pg_backend_pid()");
    CHECK(monitor.scalar(kAppBackends) == "1");
    // Closed by pgsluice's upkeep (about once a second), not by a client.
    CHECK(wait_until([&] { return monitor.scalar(kAppBackends) == "0"; }, std::chrono::seconds(10)));
    // Polled: the log is written out every 100 ms, not per line.
    CHECK(proxy.wait_for_log("closing (server_idle_timeout)"));
    CHECK(client.scalar("select pg_backend_pid()") != first);
}

TEST_CASE("server_lifetime retires an old server between transactions, never during one", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  server_lifetime: 1s\n"));
    Connection monitor(postgres.superuser_conninfo());
    Connection client(proxy.conninfo());
    client.exec("begin");
    const auto first = client.scalar("select pg_backend_pid()");
    // The transaction outlives the server's lifetime and still ends on the same server.
    CHECK(wait_until(
        [&] { return monitor.scalar("select (now() - backend_start) > interval '1.2 s' from pg_stat_activity where pid = " + first) == "t"; },
        std::chrono::seconds(10)));
    CHECK(client.scalar("select pg_backend_pid()") == first);
    client.exec("commit");
    // Past its lifetime, the server is not handed out again.
    CHECK(client.scalar("select pg_backend_pid()") != first);
    CHECK(wait_until([&] { return monitor.scalar("select count(*) from pg_stat_activity where pid = " + first) == "0"; }));
}

TEST_CASE("a server idle longer than server_check_delay runs server_check_query before it is handed out", "[integration]") {
    PostgresServer postgres;
    Connection admin(postgres.superuser_conninfo("app"));
    admin.exec("create sequence checks");
    admin.exec("grant usage on sequence checks to app");
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1,
                                                    "  server_check_delay: 0s\n"
                                                    "  server_check_query: select nextval('checks')\n"));
    Connection client(proxy.conninfo());
    for (int i = 0; i < 3; ++i) CHECK(client.scalar("select 1") == "1");
    // Login takes the (new) server unchecked; each reuse after that is checked first.
    CHECK(std::stoi(admin.scalar("select last_value from checks")) >= 3);
}

TEST_CASE("a server that dies inside a transaction gives its client 08006, and others go on", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection monitor(postgres.superuser_conninfo());
    Connection victim(proxy.conninfo());
    Connection bystander(proxy.conninfo());
    victim.exec("begin");
    const auto backend = victim.scalar("select pg_backend_pid()");
    monitor.exec("select pg_terminate_backend(" + backend + ")");
    REQUIRE(wait_until([&] { return monitor.scalar("select count(*) from pg_stat_activity where pid = " + backend) == "0"; }));
    const auto error = query_error(victim, "select 1");
    INFO(error);
    // PostgreSQL's own FATAL (57P01) is passed on first; then pgsluice, seeing the server
    // gone under an open transaction, says so itself.
    CHECK(error.find("FATAL:  08006: server closed the connection unexpectedly") != std::string::npos);
    CHECK(bystander.scalar("select 'still served'") == "still served");
}

TEST_CASE("beyond max_client_conn a client gets 53300 at once and the others keep working", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2) + "limits: {max_client_conn: 2}\n");
    // The harness's readiness probe (a bare TCP connect) holds a place until pgsluice sees it
    // go: take the two places as soon as they are free.
    std::optional<Connection> first, second;
    auto take = [&](std::optional<Connection>& place) {
        return wait_until([&] {
            try {
                place.emplace(proxy.conninfo());
                return true;
            } catch (const PgError&) {
                return false;
            }
        });
    };
    if (!take(first) || !take(second)) FAIL(proxy.log());
    std::string refused;
    try {
        Connection third(proxy.conninfo());
    } catch (const PgError& e) {
        refused = e.what();
    }
    INFO(refused);
    CHECK(refused.find("no more connections allowed (max_client_conn)") != std::string::npos);
    CHECK(proxy.log().find("max_client_conn (2) reached") != std::string::npos);
    CHECK(first->scalar("select 1") == "1");
    CHECK(second->scalar("select 2") == "2");
    // A place freed is a place to take.
    first.reset();
    std::optional<Connection> third;
    CHECK(take(third));
}
