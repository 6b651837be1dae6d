// EventClock: one clock read per handler. Inside a Scope the time stands still; outside
// it, and after the Scope, it is the clock's.
#include <catch2/catch.hpp>

#include "proxy/runtime/event_clock.hpp"

using namespace pgsluice::proxy;

namespace {
// Spins until the steady clock has moved past `t` (it ticks in nanoseconds; bounded).
bool clock_passes(Clock::time_point t) {
    for (int i = 0; i < 10'000'000; ++i)
        if (Clock::now() > t) return true;
    return false;
}
}  // namespace

TEST_CASE("inside a Scope every EventClock::now() is the time of the first", "[unit][event_clock]") {
    EventClock::Scope event;
    const auto first = EventClock::now();
    REQUIRE(clock_passes(first));
    CHECK(EventClock::now() == first);
    SECTION("a Scope nested in it defers to it") {
        EventClock::Scope nested;
        CHECK(EventClock::now() == first);
    }
}

TEST_CASE("outside a Scope, and once it ends, EventClock::now() reads the clock", "[unit][event_clock]") {
    const auto outside = EventClock::now();
    REQUIRE(clock_passes(outside));
    CHECK(EventClock::now() > outside);

    Clock::time_point held;
    {
        EventClock::Scope event;
        held = EventClock::now();
    }
    REQUIRE(clock_passes(held));
    CHECK(EventClock::now() > held);
}

TEST_CASE("a Scope's time is read when first asked for, not when the Scope opens", "[unit][event_clock]") {
    EventClock::Scope event;
    const auto opened = Clock::now();
    REQUIRE(clock_passes(opened));
    CHECK(EventClock::now() > opened);
}
