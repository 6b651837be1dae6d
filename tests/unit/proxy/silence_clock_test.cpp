// The timeouts that run while a client holds a server, judged from timestamps alone.
#include <catch2/catch.hpp>

#include "proxy/session/silence_clock.hpp"

using namespace pgsluice::proxy;
using namespace std::chrono_literals;
using pgsluice::protocol::ServerState;

namespace {
const Clock::time_point t0{};
}

TEST_CASE("a query past query_timeout is cancelled once, then given up on", "[unit][silence]") {
    SilenceClock clock({.query_timeout = 1000ms}, t0);
    ServerState state;
    clock.on_client_message(state, t0);
    state.on_frontend_message('Q');
    CHECK(clock.check(state, t0 + 999ms).overrun == Overrun::none);
    CHECK(clock.check(state, t0 + 999ms).next_check == t0 + 1000ms);
    CHECK(clock.check(state, t0 + 1000ms).overrun == Overrun::query_timeout);
    clock.on_cancel_sent(t0 + 1000ms);
    CHECK(clock.check(state, t0 + 1500ms).overrun == Overrun::none);
    CHECK(clock.check(state, t0 + 2000ms).overrun == Overrun::query_cancel_unanswered);
}

TEST_CASE("query_timeout counts from the first message of a busy spell, not each pipelined one", "[unit][silence]") {
    SilenceClock clock({.query_timeout = 1000ms}, t0);
    ServerState state;
    clock.on_client_message(state, t0);
    state.on_frontend_message('Q');
    clock.on_client_message(state, t0 + 600ms);  // pipelined while the first runs
    state.on_frontend_message('Q');
    CHECK(clock.check(state, t0 + 1000ms).overrun == Overrun::query_timeout);
}

TEST_CASE("idle_transaction_timeout counts from the server's last ReadyForQuery", "[unit][silence]") {
    SilenceClock clock({.idle_transaction_timeout = 500ms}, t0);
    ServerState state;
    clock.on_client_message(state, t0);
    state.on_frontend_message('Q');  // BEGIN
    // Busy: no idle limit applies, but the clock looks again within the shortest limit.
    CHECK(clock.check(state, t0 + 2s).overrun == Overrun::none);
    CHECK(clock.check(state, t0 + 2s).next_check <= t0 + 2500ms);
    state.on_ready_for_query('T');
    clock.on_ready_for_query(t0 + 2s);
    CHECK(clock.check(state, t0 + 2400ms).overrun == Overrun::none);
    CHECK(clock.check(state, t0 + 2500ms).overrun == Overrun::idle_transaction_timeout);
}

TEST_CASE("client_idle_timeout applies only outside a transaction, and no limit means no overrun", "[unit][silence]") {
    SilenceClock idle({.client_idle_timeout = 300ms}, t0);
    ServerState state;
    CHECK(idle.check(state, t0 + 300ms).overrun == Overrun::client_idle_timeout);
    state.on_frontend_message('Q');
    state.on_ready_for_query('T');
    CHECK(idle.check(state, t0 + 10s).overrun == Overrun::none);

    SilenceClock off({}, t0);
    CHECK_FALSE(off.enabled());
}
