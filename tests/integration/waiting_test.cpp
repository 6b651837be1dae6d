// Transaction mode at the pool's bound: a client whose transaction finds no free server
// waits in the pool's queue without a coroutine of its own (the quick path's wait). What it
// waited for must come out as the coroutine path's wait would: its own parameters on the
// server it gets, 53300 at query_wait_timeout, and nothing lost for the other clients.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <future>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {
// Waits until the log says `count` clients queued for a server.
bool queued(const Pgsluice& proxy, std::size_t count) {
    return wait_until([&] { return proxy.log_count("client waits") >= count; }, std::chrono::seconds(10));
}
}  // namespace

TEST_CASE("transaction mode: a client waiting past query_wait_timeout gets 53300, the holder goes on",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  query_wait_timeout: 1s\n"));
    Connection waiter(proxy.conninfo());  // logged in while the server is free
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    CHECK(holder.scalar("select 'held'") == "held");  // the only server, held by the open transaction

    const auto before = proxy.log_count("client waits");
    const auto started = std::chrono::steady_clock::now();
    const auto error = query_error(waiter, "select 'never served'");
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(error.find("53300") != std::string::npos);
    CHECK(error.find("query_wait_timeout") != std::string::npos);
    CHECK(proxy.log_count("client waits") > before);
    CHECK(waited >= std::chrono::milliseconds(900));
    CHECK(waited < std::chrono::seconds(5));

    // The holder's transaction is whole, and its server serves the next client afterwards.
    CHECK(holder.scalar("select 'still held'") == "still held");
    holder.exec("commit");
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 'next'") == "next");
}

TEST_CASE("transaction mode: a client that waited gets its own parameters on the server it waited for",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  query_wait_timeout: 30s\n"));
    Connection holder(proxy.conninfo() + " application_name=holder");
    Connection waiter(proxy.conninfo() + " application_name=waiter options='-c DateStyle=German'");
    holder.exec("begin");
    CHECK(holder.scalar("show datestyle") == "ISO, MDY");

    const auto before = proxy.log_count("client waits");
    auto answer = std::async(std::launch::async, [&] {
        return waiter.scalar("select current_setting('DateStyle') || ' ' || current_setting('application_name')");
    });
    REQUIRE(queued(proxy, before + 1));
    CHECK(answer.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);  // still waiting
    holder.exec("commit");  // the server goes to the waiter, set up for the holder
    REQUIRE(answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(answer.get() == "German, DMY waiter");
    CHECK(holder.scalar("show datestyle") == "ISO, MDY");
    CHECK(holder.scalar("show application_name") == "holder");
}

TEST_CASE("transaction mode: clients queued behind one server are each served once, in a transaction of their own",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  query_wait_timeout: 30s\n"));
    Connection setup(proxy.conninfo());
    setup.exec("create table served (client int, txid bigint)");
    std::vector<std::unique_ptr<Connection>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Connection>(proxy.conninfo()));
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    holder.exec("select 1");

    const auto before = proxy.log_count("client waits");
    std::vector<std::future<void>> done;
    for (int i = 0; i < 4; ++i)
        done.push_back(std::async(std::launch::async, [&, i] {
            clients[i]->exec("insert into served values (" + std::to_string(i) + ", txid_current())");
        }));
    REQUIRE(queued(proxy, before + 4));
    holder.exec("commit");
    for (auto& d : done) {
        REQUIRE(d.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
        d.get();
    }
    CHECK(setup.scalar("select count(*) from served") == "4");
    CHECK(setup.scalar("select count(distinct client) from served") == "4");
    CHECK(setup.scalar("select count(distinct txid) from served") == "4");  // none joined another's transaction
}

TEST_CASE("a client that leaves while it waits for a server never has its query run", "[integration]") {
    PostgresServer postgres;
    // Both ways of waiting: the quick path's (transaction mode) and the coroutine path's
    // (statement mode).
    const auto mode = GENERATE(as<std::string>{}, "transaction", "statement");
    // Both ways of leaving: libpq's close (Terminate, then FIN), and a connection that drops.
    const bool with_terminate = GENERATE(true, false);
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1, "  query_wait_timeout: 30s\n"));
    Connection setup(proxy.conninfo());
    setup.exec("create table orders (id int)");
    auto leaver = std::make_unique<Connection>(proxy.conninfo());
    // The only server, held: by an open transaction, or (statement mode) a long statement.
    Connection holder(proxy.conninfo());
    std::future<void> held;
    if (mode == "transaction") {
        holder.exec("begin");
        holder.exec("select 1");
    } else {
        held = std::async(std::launch::async, [&] { holder.exec("select pg_sleep(1.5)"); });
        Connection monitor(postgres.superuser_conninfo());
        REQUIRE(wait_until([&] {
            return monitor.scalar("select count(*) from pg_stat_activity where query = 'select pg_sleep(1.5)'") == "1";
        }));
    }

    const auto before = proxy.log_count("client waits");
    REQUIRE(PQsendQuery(leaver->raw(), "insert into orders values (1)") == 1);
    REQUIRE(PQflush(leaver->raw()) == 0);
    REQUIRE(queued(proxy, before + 1));
    if (!with_terminate) ::shutdown(PQsocket(leaver->raw()), SHUT_RDWR);
    leaver.reset();
    // pgsluice may only notice once the server frees up: it must drop the query then.
    if (mode == "transaction")
        holder.exec("commit");
    else
        held.get();
    CHECK(proxy.wait_for_log("client left while waiting for a server"));
    CHECK(setup.scalar("select count(*) from orders") == "0");
    // The server went back untouched: the next client gets it at once.
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 'next'") == "next");
    CHECK(setup.scalar("select count(*) from orders") == "0");
}

TEST_CASE("transaction mode: a client that sends more while it waits for a server is served, in order",
          "[integration]") {
    // The wait watches the client socket: bytes that come in while the query waits (here the
    // next pipeline segment) wake that watch, and the client, still there, is served.
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, "  query_wait_timeout: 30s\n"));
    Connection client(proxy.conninfo());
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    holder.exec("select 1");
    PGconn* conn = client.raw();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    const auto send = [&](const char* value) {
        const char* params[] = {value};
        REQUIRE(PQsendQueryParams(conn, "select $1::text", 1, nullptr, params, nullptr, nullptr, 0) == 1);
        REQUIRE(PQpipelineSync(conn) == 1);
        REQUIRE(PQflush(conn) == 0);
    };
    const auto before = proxy.log_count("client waits");
    send("first");
    REQUIRE(queued(proxy, before + 1));
    send("second");
    holder.exec("commit");
    for (const char* value : {"first", "second"}) {
        PGresult* result = PQgetResult(conn);
        REQUIRE(result != nullptr);
        INFO(PQresultErrorMessage(result));
        REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
        CHECK(std::string(PQgetvalue(result, 0, 0)) == value);
        PQclear(result);
        CHECK(PQgetResult(conn) == nullptr);
        PGresult* sync = PQgetResult(conn);
        REQUIRE(sync != nullptr);
        CHECK(PQresultStatus(sync) == PGRES_PIPELINE_SYNC);
        PQclear(sync);
    }
    REQUIRE(PQexitPipelineMode(conn) == 1);
    CHECK(client.scalar("select 'after'") == "after");
    CHECK(proxy.log_count("client left while waiting") == 0);
}
