#include <catch2/catch.hpp>

#include "proxy/observe/json_escape.hpp"

using pgsluice::proxy::append_json_escaped;

TEST_CASE("JSON escaping covers quotes, backslashes and control characters and keeps UTF-8", "[unit][log]") {
    std::string out;
    append_json_escaped(out, "user \"app\" C:\\dir\n\ttab \x01 h\xc3\xa9");
    CHECK(out == "user \\\"app\\\" C:\\\\dir\\n\\ttab \\u0001 h\xc3\xa9");
}
