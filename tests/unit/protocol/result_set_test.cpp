// RowDescription, DataRow, CommandComplete and EmptyQueryResponse, byte for byte.
#include <catch2/catch.hpp>

#include "protocol/result_set.hpp"

using namespace pgsluice::protocol;

TEST_CASE("RowDescription describes text and int8 columns in text format", "[protocol][result_set]") {
    std::string out;
    append_row_description(out, {{"a", type_oid::kText}, {"n", type_oid::kInt8}});
    const std::string column_a = std::string("a\0", 2) + std::string("\0\0\0\0", 4) + std::string("\0\0", 2) +
                                 std::string("\0\0\0\x19", 4) + std::string("\xff\xff", 2) +
                                 std::string("\xff\xff\xff\xff", 4) + std::string("\0\0", 2);
    const std::string column_n = std::string("n\0", 2) + std::string("\0\0\0\0", 4) + std::string("\0\0", 2) +
                                 std::string("\0\0\0\x14", 4) + std::string("\0\x08", 2) +
                                 std::string("\xff\xff\xff\xff", 4) + std::string("\0\0", 2);
    const std::string body = std::string("\0\x02", 2) + column_a + column_n;
    const auto length = static_cast<char>(4 + body.size());
    CHECK(out == std::string("T\0\0\0", 4) + length + body);
}

TEST_CASE("DataRow sends values with their length and NULL as -1", "[protocol][result_set]") {
    std::string out;
    append_data_row(out, {std::string("ab"), std::nullopt, std::string()});
    CHECK(out == std::string("D\0\0\0\x14\0\x03"
                             "\0\0\0\x02" "ab"
                             "\xff\xff\xff\xff"
                             "\0\0\0\0",
                             21));
}

TEST_CASE("CommandComplete carries its tag and EmptyQueryResponse is empty", "[protocol][result_set]") {
    std::string out;
    append_command_complete(out, "SHOW");
    CHECK(out == std::string("C\0\0\0\x09SHOW\0", 10));
    out.clear();
    append_empty_query_response(out);
    CHECK(out == std::string("I\0\0\0\x04", 5));
}
