// Between two transactions a client is parked warm for a moment (its buffers kept, a read
// pending on its socket), then cold. Whatever the pause, and however many clients pause at
// once, every next transaction is served, on whichever server is free.
#include <catch2/catch.hpp>
#include <libpq-fe.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("transaction mode: clients pausing shorter and longer than a warm park share one server and get every answer",
          "[integration][warm_park]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection first(proxy.conninfo());
    Connection second(proxy.conninfo());
    const auto backend = first.scalar("select pg_backend_pid()");
    // The pauses are what is tested: none, within the warm park (100 to 200 ms), past it.
    int round = 0;
    for (const auto pause : {0, 20, 0, 350, 5, 250, 0}) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause));
        ++round;
        CHECK(first.scalar("select " + std::to_string(round)) == std::to_string(round));
        CHECK(second.scalar("select " + std::to_string(round * 100)) == std::to_string(round * 100));
        CHECK(second.scalar("select pg_backend_pid()") == backend);
    }
    // A transaction block across a pause: the server stays with its client meanwhile.
    first.exec("begin");
    first.exec("create temporary table scratch(n int) on commit drop");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    first.exec("insert into scratch values (1), (2)");
    CHECK(first.scalar("select sum(n) from scratch") == "3");
    first.exec("commit");
    CHECK(second.scalar("select 'after'") == "after");
    CHECK(proxy.running());
}

TEST_CASE("transaction mode: a client that leaves right after its transaction ends its session with one line",
          "[integration][warm_park]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    {
        Connection leaving(proxy.conninfo());
        CHECK(leaving.scalar("select 1") == "1");
    }  // PQfinish sends Terminate at once, while the session is parked warm
    REQUIRE(proxy.wait_for_log("client sent Terminate"));
    CHECK(proxy.log_count("client sent Terminate") == 1);
    // A client whose socket just closes, without a Terminate, right after its transaction.
    {
        Connection vanishing(proxy.conninfo());
        CHECK(vanishing.scalar("select 2") == "2");
        REQUIRE(::shutdown(PQsocket(vanishing.raw()), SHUT_RDWR) == 0);
    }
    REQUIRE(proxy.wait_for_log("client disconnected"));
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 3") == "3");
}

// More clients between transactions than a worker parks warm (128): the rest park cold, and
// all of them go on.
TEST_CASE("transaction mode: 200 clients pausing at once on one worker are all served again", "[integration][warm_park]") {
    PostgresServer postgres;
    auto yaml = Pgsluice::basic_config("transaction", 4);
    yaml.replace(yaml.find("workers: 2\n"), 11, "workers: 1\n");
    Pgsluice proxy(postgres, yaml);
    std::vector<std::unique_ptr<Connection>> clients;
    for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<Connection>(proxy.conninfo()));
    // Every client sends, then every client reads: all 200 finish a transaction within a
    // moment of each other and wait for their next one together.
    for (int round = 1; round <= 3; ++round) {
        for (auto& client : clients) REQUIRE(PQsendQuery(client->raw(), ("select " + std::to_string(round)).c_str()) == 1);
        int answered = 0;
        for (auto& client : clients) {
            while (PGresult* result = PQgetResult(client->raw())) {
                if (PQresultStatus(result) == PGRES_TUPLES_OK && std::string(PQgetvalue(result, 0, 0)) == std::to_string(round))
                    ++answered;
                PQclear(result);
            }
        }
        CHECK(answered == 200);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the warm park: all cold now
    for (auto& client : clients) CHECK(client->scalar("select 'again'") == "again");
}
