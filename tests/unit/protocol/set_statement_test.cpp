#include <catch2/catch.hpp>

#include "protocol/set_statement.hpp"

using pgsluice::protocol::parse_set_statement;
using Kind = pgsluice::protocol::SetStatement::Kind;

TEST_CASE("SET statements a client uses to change its session are recognised with their value as written", "[protocol]") {
    auto s = parse_set_statement("SET search_path TO tenant_a, public");
    REQUIRE(s);
    CHECK(s->kind == Kind::set);
    CHECK(s->name == "search_path");
    CHECK(s->value_sql == "tenant_a, public");

    s = parse_set_statement("  set SESSION Work_Mem = '64MB' ;  ");
    REQUIRE(s);
    CHECK(s->name == "work_mem");
    CHECK(s->value_sql == "'64MB'");

    s = parse_set_statement("set statement_timeout=5000");
    REQUIRE(s);
    CHECK(s->value_sql == "5000");

    s = parse_set_statement("SET app.tenant TO 'it''s'");
    REQUIRE(s);
    CHECK(s->name == "app.tenant");
    CHECK(s->value_sql == "'it''s'");

    s = parse_set_statement("SET search_path TO \"My Schema\", public");
    REQUIRE(s);
    CHECK(s->value_sql == "\"My Schema\", public");

    s = parse_set_statement("set extra_float_digits to -3");
    REQUIRE(s);
    CHECK(s->value_sql == "-3");
}

TEST_CASE("RESET, RESET ALL and SET ... TO DEFAULT are recognised", "[protocol]") {
    auto s = parse_set_statement("RESET search_path;");
    REQUIRE(s);
    CHECK(s->kind == Kind::reset);
    CHECK(s->name == "search_path");
    s = parse_set_statement("reset all");
    REQUIRE(s);
    CHECK(s->kind == Kind::reset_all);
    s = parse_set_statement("SET work_mem TO DEFAULT");
    REQUIRE(s);
    CHECK(s->kind == Kind::reset);
    CHECK(s->name == "work_mem");
}

TEST_CASE("SET LOCAL and SET TRANSACTION end with their transaction", "[protocol]") {
    CHECK(parse_set_statement("SET LOCAL statement_timeout = 1000")->kind == Kind::transaction);
    CHECK(parse_set_statement("set transaction isolation level serializable")->kind == Kind::transaction);
}

TEST_CASE("anything but one plain SET or RESET is not recognised", "[protocol]") {
    for (const char* text : {"SELECT 1", "SET", "SET x", "SET search_path TO a; DROP TABLE t", "SET x TO 'a' b",
                             "SET x TO 'unterminated", "SET TIME ZONE 'UTC'", "SET ROLE admin",
                             "SET SESSION AUTHORIZATION admin", "SET x TO 'a' -- comment", "SET x TO E'\\\\'",
                             "SET x TO 'a\\'; DROP TABLE t; --'", "RESET ROLE", "SET SCHEMA 'x'",
                             "SET x TO f(1)", "SET x TO 1 + 1", "RESET", "RESET ALL x", "SET x TO 12abc",
                             "SETX TO 1", "SELECT set_config('a', 'b', false)"})
        CHECK_FALSE(parse_set_statement(text).has_value());
}
