// DEALLOCATE and DISCARD ALL as a client writes them, and what must stay the server's.
#include <catch2/catch.hpp>

#include "protocol/deallocate_statement.hpp"

using namespace pgsluice::protocol;
using Kind = DeallocateStatement::Kind;

TEST_CASE("DEALLOCATE name, with or without PREPARE, any case, folded like PostgreSQL", "[protocol][deallocate]") {
    for (auto text : {"DEALLOCATE s1", "deallocate S1", "Deallocate Prepare s1", "  DEALLOCATE\n\ts1 ;  \n",
                      "DEALLOCATE s1;"}) {
        CAPTURE(text);
        auto statement = parse_deallocate_statement(text);
        REQUIRE(statement);
        CHECK(statement->kind == Kind::deallocate);
        CHECK(statement->name == "s1");
    }
}

TEST_CASE("a quoted name keeps its case, its spaces and its doubled quotes", "[protocol][deallocate]") {
    auto statement = parse_deallocate_statement(R"(DEALLOCATE "My ""Stmt""";)");
    REQUIRE(statement);
    CHECK(statement->name == R"(My "Stmt")");
    statement = parse_deallocate_statement(R"(deallocate prepare "ALL")");
    REQUIRE(statement);
    CHECK(statement->kind == Kind::deallocate);
    CHECK(statement->name == "ALL");
}

TEST_CASE("a statement named prepare is a name, not the keyword", "[protocol][deallocate]") {
    auto statement = parse_deallocate_statement("DEALLOCATE prepare");
    REQUIRE(statement);
    CHECK(statement->name == "prepare");
}

TEST_CASE("DEALLOCATE ALL, DEALLOCATE PREPARE ALL and DISCARD ALL", "[protocol][deallocate]") {
    for (auto text : {"DEALLOCATE ALL", "deallocate prepare all;", " Deallocate All ; "}) {
        CAPTURE(text);
        auto statement = parse_deallocate_statement(text);
        REQUIRE(statement);
        CHECK(statement->kind == Kind::deallocate_all);
    }
    for (auto text : {"DISCARD ALL", "discard all;", "\nDiscard\tALL ;\n"}) {
        CAPTURE(text);
        auto statement = parse_deallocate_statement(text);
        REQUIRE(statement);
        CHECK(statement->kind == Kind::discard_all);
    }
}

TEST_CASE("anything else is not recognised", "[protocol][deallocate]") {
    for (auto text : {"", ";", "DEALLOCATE", "DEALLOCATE s1 s2", "DEALLOCATE s1; select 1",
                      "DEALLOCATE s1;;", "DEALLOCATE \"\"", "DEALLOCATE \"unterminated", "DISCARD PLANS",
                      "DISCARD", "DISCARD ALL x", "DISCARD \"ALL\"", "-- c\nDEALLOCATE s1", "DEALLOCATE /* c */ s1",
                      "DEALLOCATE 1abc", "DELETE FROM t", "select 1", "DEALLOCATEs1"}) {
        CAPTURE(text);
        CHECK_FALSE(parse_deallocate_statement(text));
    }
}
