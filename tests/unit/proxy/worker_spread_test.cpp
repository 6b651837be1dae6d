// How many workers take clients: one more when one is too busy, one fewer when the rest can
// carry the load with room to spare, as many in between.
#include <catch2/catch.hpp>

#include <vector>

#include "proxy/runtime/worker_spread.hpp"

using namespace pgsluice::proxy;

namespace {
unsigned next(std::vector<double> busy, unsigned total, unsigned percent = 70) {
    return workers_to_serve(busy, total, spread_limits(percent));
}
}  // namespace

TEST_CASE("a worker busier than worker_spread_above brings in one more", "[unit][spread]") {
    CHECK(next({0.75}, 4) == 2);
    CHECK(next({0.3, 0.71}, 4) == 3);
    CHECK(next({0.9, 0.9}, 2) == 2);  // every worker serves already
    CHECK(next({0.95}, 1) == 1);      // workers: 1
}

TEST_CASE("the last worker gives its clients back when the others carry the load under the lower mark",
          "[unit][spread]") {
    CHECK(next({0.2, 0.2}, 2) == 1);   // 0.4 fits on one worker under 0.5
    CHECK(next({0.3, 0.3, 0.3}, 4) == 2);
    CHECK(next({0.0}, 2) == 1);        // one serving is the least
}

TEST_CASE("between the two marks the count holds, so it does not flap", "[unit][spread]") {
    // Spread from one at 0.75: two at about 0.38 each must not fold back into one.
    CHECK(next({0.38, 0.38}, 2) == 2);
    CHECK(next({0.65}, 2) == 1);
    CHECK(next({0.5, 0.45, 0.2}, 3) == 3);
}

TEST_CASE("with no load measured yet, one worker takes clients, or all when spreading is off", "[unit][spread]") {
    CHECK(next({}, 4) == 1);
    CHECK(next({}, 4, 0) == 4);
}

TEST_CASE("worker_spread_above 0 keeps every worker serving", "[unit][spread]") {
    CHECK(next({0.0}, 4, 0) == 4);
    CHECK(next({0.0, 0.0, 0.0, 0.0}, 4, 0) == 4);
}

TEST_CASE("the lower mark sits 20 points under the spread mark, at least half of it", "[unit][spread]") {
    CHECK(spread_limits(70).pack_below == Approx(0.5));
    CHECK(spread_limits(30).pack_below == Approx(0.15));
    CHECK(spread_limits(100).spread_above == Approx(1.0));
}
