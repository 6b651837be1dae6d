// LogRateLimit: one line per period, and the next line counts what was held back.
#include <catch2/catch.hpp>

#include "proxy/observe/log_rate_limit.hpp"

using pgsluice::proxy::LogRateLimit;
using namespace std::chrono_literals;

TEST_CASE("a repeating error is logged once per period with the count held back", "[log]") {
    LogRateLimit limit(1s);
    const auto start = LogRateLimit::Clock::time_point{} + 1h;
    CHECK(limit.allow(start) == 0u);  // the first one always
    for (int i = 1; i <= 9; ++i) CHECK_FALSE(limit.allow(start + i * 100ms).has_value());
    CHECK(limit.allow(start + 1s) == 9u);
    CHECK_FALSE(limit.allow(start + 1500ms).has_value());
    CHECK(limit.allow(start + 5s) == 1u);
    CHECK(limit.allow(start + 10s) == 0u);
}
