// libpq pipeline mode through pgsluice: many extended-protocol queries sent before any
// result is read, in transaction and statement pooling, come back complete and in order.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

namespace {

// Sends `count` queries as one pipeline segment ending in a Sync.
void send_segment(PGconn* conn, int first, int count) {
    for (int i = first; i < first + count; ++i) {
        const std::string value = std::to_string(i);
        const char* params[] = {value.c_str()};
        REQUIRE(PQsendQueryParams(conn, "select $1::int * 2, $1::text || '!'", 1, nullptr, params, nullptr, nullptr,
                                  0) == 1);
    }
    REQUIRE(PQpipelineSync(conn) == 1);
}

// Reads the results of one segment sent by send_segment.
void read_segment(PGconn* conn, int first, int count) {
    for (int i = first; i < first + count; ++i) {
        PGresult* result = PQgetResult(conn);
        REQUIRE(result != nullptr);
        INFO(PQresultErrorMessage(result));
        REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
        REQUIRE(PQntuples(result) == 1);
        CHECK(std::string(PQgetvalue(result, 0, 0)) == std::to_string(i * 2));
        CHECK(std::string(PQgetvalue(result, 0, 1)) == std::to_string(i) + "!");
        PQclear(result);
        CHECK(PQgetResult(conn) == nullptr);  // end of this query's results
    }
    PGresult* sync = PQgetResult(conn);
    REQUIRE(sync != nullptr);
    CHECK(PQresultStatus(sync) == PGRES_PIPELINE_SYNC);
    PQclear(sync);
}

}  // namespace

TEST_CASE("pipelined extended-protocol queries come back correct and in order", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "statement");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1));
    Connection client(proxy.conninfo());
    Connection neighbour(proxy.conninfo());  // shares the single server between segments
    PGconn* conn = client.raw();
    REQUIRE(PQenterPipelineMode(conn) == 1);

    // Two segments written before a single result is read: the second arrives while the
    // server is still busy with the first, and may get the server only after its release.
    send_segment(conn, 0, 20);
    send_segment(conn, 100, 20);
    read_segment(conn, 0, 20);
    read_segment(conn, 100, 20);
    CHECK(neighbour.scalar("select 'between'") == "between");
    send_segment(conn, 200, 5);
    read_segment(conn, 200, 5);

    REQUIRE(PQexitPipelineMode(conn) == 1);
    CHECK(client.scalar("select 'after'") == "after");
}
