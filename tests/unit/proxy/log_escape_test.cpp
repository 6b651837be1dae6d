#include <catch2/catch.hpp>

#include "proxy/observe/log_escape.hpp"

using pgsluice::proxy::append_log_escaped;
using pgsluice::proxy::needs_log_escape;

TEST_CASE("text log escaping turns control characters into visible escapes and keeps UTF-8", "[unit][log]") {
    std::string out;
    append_log_escaped(out, "app\n2026-12-04 21:00:00.000 error forged\r\t\x1b[31m\x7f h\xc3\xa9 \"q\" C:\\dir");
    CHECK(out == "app\\n2026-12-04 21:00:00.000 error forged\\r\\t\\x1b[31m\\x7f h\xc3\xa9 \"q\" C:\\dir");
    CHECK(out.find('\n') == std::string::npos);
    CHECK(needs_log_escape("a\nb"));
    CHECK_FALSE(needs_log_escape("plain h\xc3\xa9"));
}
