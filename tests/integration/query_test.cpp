// Queries and their results pass through pgsluice unchanged.
#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("the harness starts a throwaway PostgreSQL that answers directly", "[integration]") {
    PostgresServer postgres;
    Connection direct(postgres.superuser_conninfo());
    CHECK(direct.scalar("select current_setting('server_version_num')::int / 10000") == "15");
}

TEST_CASE("queries and results pass through pgsluice in session and transaction mode", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 2));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select current_user") == "app");
    CHECK(client.scalar("select current_database()") == "app");
    client.exec("create table items(id int primary key, name text)");
    client.exec("insert into items select g, 'item ' || g from generate_series(1, 1000) g");
    auto rows = client.query("select id, name from items where id in (1, 500, 1000) order by id");
    REQUIRE(rows.size() == 3);
    CHECK(rows[1] == std::vector<std::string>{"500", "item 500"});
    CHECK(client.scalar("select count(*) from items") == "1000");
    // A large result streams through in many reads.
    CHECK(client.scalar("select length(string_agg(repeat('x', 1000), '')) from generate_series(1, 5000)") == "5000000");
    // Errors come back as the server's, and the connection keeps working.
    try {
        client.exec("select * from no_such_table");
        FAIL("expected an error");
    } catch (const PgError& e) {
        CHECK(e.sqlstate == "42P01");
    }
    CHECK(client.scalar("select 1") == "1");
}

TEST_CASE("a client's application_name and DateStyle reach the server it gets", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection first(proxy.conninfo() + " application_name=first options='-c DateStyle=German'");
    Connection second(proxy.conninfo() + " application_name=second");
    CHECK(first.scalar("show application_name") == "first");
    CHECK(second.scalar("show application_name") == "second");
    CHECK(first.scalar("show datestyle") == "German, DMY");
    CHECK(second.scalar("show datestyle") == "ISO, MDY");
    CHECK(first.scalar("select current_setting('application_name')") == "first");
}

// In transaction mode a request and its answer usually go through pgsluice's quick path;
// a message bigger than one read, or an answer bigger than the client's socket buffer,
// must carry on through the full forwarder from where the quick path stopped.
TEST_CASE("transaction mode: a query text bigger than a read and results bigger than a socket buffer pass whole",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection client(proxy.conninfo());
    Connection other(proxy.conninfo());
    const std::string literal(300'000, 'q');
    const std::string big_query = "select length('" + literal + "')";
    const std::string big_result = "select length(string_agg(repeat('y', 1000), '')) from generate_series(1, 20000)";
    for (int round = 0; round < 3; ++round) {
        // Between transactions: the server is taken for each statement and given back.
        CHECK(client.scalar(big_query) == "300000");
        CHECK(client.scalar(big_result) == "20000000");
        CHECK(other.scalar("select 7") == "7");  // the one server went back to the pool each time
        // Inside one: the server stays with the client from statement to statement.
        client.exec("begin");
        CHECK(client.scalar(big_query) == "300000");
        CHECK(client.scalar("select repeat('z', 4000000)").size() == 4'000'000);
        CHECK(client.scalar("select txid_current_if_assigned() is null") == "t");
        client.exec("create temp table t(x int) on commit drop");
        client.exec("insert into t values (1), (2)");
        CHECK(client.scalar("select sum(x) from t") == "3");
        client.exec("commit");
        CHECK(other.scalar("select count(*) from pg_class where relname = 't' and relpersistence = 't'") == "0");
    }
}

TEST_CASE("transaction mode: a client that reads its result late still gets all of it, and the server then serves others",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection monitor(postgres.superuser_conninfo());
    Connection client(proxy.conninfo());
    // One 20 MB row, more than the socket buffers between PostgreSQL, pgsluice and the
    // client hold: pgsluice must stop forwarding until the client reads, and lose nothing.
    // Numbered pieces, so that a lost or repeated piece shows in the content.
    REQUIRE(PQsendQuery(client.raw(),
                        "select string_agg(lpad(g::text, 10, '0'), '' order by g) from generate_series(1, 2000000) g") ==
            1);
    // Everything is full once the backend itself waits to write.
    CHECK(wait_until(
        [&] {
            return monitor.scalar("select count(*) from pg_stat_activity where wait_event = 'ClientWrite' and "
                                  "query like 'select string_agg(lpad(%'") == "1";
        },
        std::chrono::seconds(20)));
    std::string value;
    while (PGresult* result = PQgetResult(client.raw())) {
        if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
            value.assign(PQgetvalue(result, 0, 0), PQgetlength(result, 0, 0));
        PQclear(result);
    }
    std::string expected;
    expected.reserve(20'000'000);
    for (int g = 1; g <= 2'000'000; ++g) {
        const auto digits = std::to_string(g);
        expected.append(10 - digits.size(), '0').append(digits);
    }
    CHECK(value.size() == expected.size());
    CHECK((value == expected));  // every byte, in order (not printed: 20 MB)
    Connection other(proxy.conninfo());
    CHECK(other.scalar("select 8") == "8");
    CHECK(client.scalar("select 9") == "9");
}
