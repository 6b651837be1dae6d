// Queries and their results pass through pgsluice unchanged.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

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
