// The pool's policies without a socket: caps, FIFO with local hand-off, the reserve pool
// after reserve_pool_timeout, shrink on reload, which idle server to reuse, which to close
// and why.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proxy/pool/pool_policy.hpp"

using namespace pgsluice::proxy;
using namespace pgsluice::proxy::pool_policy;
using namespace std::chrono_literals;
namespace config = pgsluice::config;

namespace {

config::PoolSettings settings_with(std::uint32_t pool_size, std::uint32_t reserve = 0) {
    config::PoolSettings settings;
    settings.pool_size = pool_size;
    settings.reserve_pool_size = reserve;
    return settings;
}

struct FakeWaiter {
    const void* worker;
    Clock::time_point since;
};

const Clock::time_point t0 = Clock::time_point() + 1h;  // any fixed moment

}  // namespace

TEST_CASE("pool policy: the cap is pool_size, plus reserve_pool_size only for a client that waited", "[unit][pool]") {
    const auto settings = settings_with(5, 2);
    CHECK(server_cap(settings, false) == 5);
    CHECK(server_cap(settings, true) == 7);
    CHECK_FALSE(reserve_allowed(settings, false));
    CHECK(reserve_allowed(settings, true));
    CHECK_FALSE(reserve_allowed(settings_with(5, 0), true));  // no reserve pool configured
}

TEST_CASE("pool policy: a shrink closes idle servers only, down to pool_size", "[unit][pool]") {
    const auto settings = settings_with(3);
    CHECK(idle_to_close_on_shrink(5, 4, settings) == 2);  // 2 too many, both idle
    CHECK(idle_to_close_on_shrink(5, 1, settings) == 1);  // the busy ones go when released
    CHECK(idle_to_close_on_shrink(3, 3, settings) == 0);
    CHECK(idle_to_close_on_shrink(2, 2, settings) == 0);  // growing
}

TEST_CASE("pool policy: a released server is kept within pool_size, and otherwise closed with its reason",
          "[unit][pool]") {
    const auto settings = settings_with(2, 1);
    CHECK_FALSE(refuse_on_release({true, true, 2, false}, settings));
    // A reserve server serves the clients waiting now, then goes.
    CHECK_FALSE(refuse_on_release({true, true, 3, true}, settings));
    CHECK(refuse_on_release({true, true, 3, false}, settings) == CloseReason::reserve_unneeded);
    // Beyond pool_size and reserve: a reload shrank the pool.
    CHECK(refuse_on_release({true, true, 4, true}, settings) == CloseReason::pool_shrunk);
    CHECK(refuse_on_release({false, true, 1, false}, settings) == CloseReason::target_changed);
    CHECK(refuse_on_release({true, false, 1, false}, settings) == CloseReason::admin_generation);
    CHECK(refuse_on_release({false, false, 1, false}, settings) == CloseReason::admin_generation);
}

TEST_CASE("pool policy: a pool gives a released server up to a sibling that waited longer, down to its fair share",
          "[unit][pool]") {
    const SiblingDemand sibling{1, t0, 10};
    // Nobody waits here: give it up.
    CHECK(give_up_for_sibling(std::nullopt, sibling, 3, 0));
    // Our client waited longer than theirs: keep it.
    CHECK_FALSE(give_up_for_sibling(t0 - 1ms, sibling, 9, 0));
    // Theirs waited longer: only above the fair share (10 over 2 pools: 5).
    CHECK(give_up_for_sibling(t0 + 1ms, sibling, 6, 0));
    CHECK_FALSE(give_up_for_sibling(t0 + 1ms, sibling, 5, 0));
    CHECK_FALSE(give_up_for_sibling(t0 + 1ms, sibling, 6, 1));  // one already on its way out
    // The share is rounded up: 10 over 3 pools is 4.
    CHECK_FALSE(give_up_for_sibling(t0 + 1ms, {2, t0, 10}, 4, 0));
    CHECK(give_up_for_sibling(t0 + 1ms, {2, t0, 10}, 5, 0));
    // No cap, or nobody starving: never.
    CHECK_FALSE(give_up_for_sibling(std::nullopt, {1, t0, 0}, 3, 0));
    CHECK_FALSE(give_up_for_sibling(std::nullopt, {0, Clock::time_point::max(), 10}, 3, 0));
}

TEST_CASE("pool policy: idle servers close at server_lifetime, or at server_idle_timeout above min_pool_size",
          "[unit][pool]") {
    config::PoolSettings settings;
    settings.server_lifetime = 3600s;
    settings.server_idle_timeout = 600s;
    const ServerAge age{t0, t0 + 10s};
    CHECK_FALSE(idle_expired(age, t0 + 11s, settings, true));
    CHECK(idle_expired(age, t0 + 10s + 601s, settings, true) == CloseReason::idle_timeout);
    CHECK_FALSE(idle_expired(age, t0 + 10s + 601s, settings, false));  // kept warm for min_pool_size
    CHECK(idle_expired(age, t0 + 3601s, settings, false) == CloseReason::lifetime_over);
    settings.server_lifetime = 0s;  // off
    settings.server_idle_timeout = 0s;
    CHECK_FALSE(idle_expired(age, t0 + 100h, settings, true));
}

TEST_CASE("pool policy: server_check_query is due past server_check_delay, never before a server's first client",
          "[unit][pool]") {
    config::PoolSettings settings;
    settings.server_check_delay = 30s;
    settings.server_check_query = "select 1";
    const ServerAge used{t0, t0 + 1s};
    CHECK_FALSE(check_due(used, t0 + 30s, settings));
    CHECK(check_due(used, t0 + 31s, settings));
    const ServerAge fresh{t0, t0};  // opened, never leased
    CHECK(past_check_delay(fresh, t0 + 31s, settings));  // SHOW SERVERS calls it "used"
    CHECK_FALSE(check_due(fresh, t0 + 31s, settings));
    settings.server_check_query.clear();
    CHECK_FALSE(check_due(used, t0 + 31s, settings));
}

TEST_CASE("pool policy: the newest idle server is reused, the newest on the caller's worker first", "[unit][pool]") {
    int worker_a = 0, worker_b = 0;
    struct Idle {
        int id;
        const void* worker;
    };
    std::deque<Idle> idle{{1, &worker_a}, {2, &worker_b}, {3, &worker_a}, {4, &worker_b}};
    auto worker_of = [](const Idle& server) { return server.worker; };
    CHECK(pick_idle(idle, &worker_a, worker_of)->id == 3);
    CHECK(pick_idle(idle, &worker_b, worker_of)->id == 4);
    int worker_c = 0;
    CHECK(pick_idle(idle, &worker_c, worker_of)->id == 4);  // none on its worker: the newest
}

TEST_CASE("pool policy: a released server goes to the oldest waiter, or to one on its worker that waited about as long",
          "[unit][pool]") {
    int here = 0, there = 0;
    auto queue = [&](std::vector<FakeWaiter> waiters) {
        std::deque<std::shared_ptr<FakeWaiter>> q;
        for (auto& w : waiters) q.push_back(std::make_shared<FakeWaiter>(w));
        return q;
    };
    {
        auto q = queue({{&there, t0}, {&here, t0 + 1ms}});
        CHECK(pick_waiter(q, &here) == q.begin() + 1);  // within the slack: stays on this worker
    }
    {
        auto q = queue({{&there, t0}, {&here, t0 + kLocalHandoffSlack}});
        CHECK(pick_waiter(q, &here) == q.begin());  // waited clearly less: FIFO wins
    }
    {
        auto q = queue({{&here, t0}, {&there, t0}});
        CHECK(pick_waiter(q, &here) == q.begin());
        CHECK(pick_waiter(q, &there) == q.begin() + 1);
    }
    {
        // Only the first waiter on this worker is considered, and only within the scan.
        std::vector<FakeWaiter> many(kLocalHandoffScan + 1, FakeWaiter{&there, t0});
        many.push_back({&here, t0});
        auto q = queue(many);
        CHECK(pick_waiter(q, &here) == q.begin());
    }
}

TEST_CASE("pool policy: a waiter times out at query_wait_timeout and may try the reserve after reserve_pool_timeout",
          "[unit][pool]") {
    auto settings = settings_with(2, 1);
    settings.query_wait_timeout = 1000ms;
    settings.reserve_pool_timeout = 300ms;
    auto due = wait_due(t0, false, t0 + 100ms, settings);
    CHECK(due.step == WaitStep::keep_waiting);
    CHECK(due.next == t0 + 300ms);
    CHECK(wait_due(t0, false, t0 + 300ms, settings).step == WaitStep::try_reserve);
    due = wait_due(t0, true, t0 + 300ms, settings);  // tried once: only the deadline is left
    CHECK(due.step == WaitStep::keep_waiting);
    CHECK(due.next == t0 + 1000ms);
    CHECK(wait_due(t0, true, t0 + 1000ms, settings).step == WaitStep::time_out);
    CHECK(wait_due(t0, false, t0 + 1000ms, settings).step == WaitStep::time_out);  // the deadline comes first
    // query_wait_timeout 0 and no reserve pool: nothing is ever due.
    settings.query_wait_timeout = 0ms;
    settings.reserve_pool_size = 0;
    due = wait_due(t0, false, t0 + 100h, settings);
    CHECK(due.step == WaitStep::keep_waiting);
    CHECK(due.next == Clock::time_point::max());
    // Later waiters are due later, unless this one used up its reserve attempt.
    CHECK(later_waiters_due_after(false, settings_with(2, 1)));
    CHECK_FALSE(later_waiters_due_after(true, settings_with(2, 1)));
    CHECK(later_waiters_due_after(true, settings_with(2, 0)));
}

TEST_CASE("pool policy: every close reason has its own log text", "[unit][pool]") {
    std::vector<std::string> texts;
    for (auto reason : {CloseReason::lifetime_over, CloseReason::idle_timeout, CloseReason::target_changed,
                        CloseReason::pool_shrunk, CloseReason::reserve_unneeded, CloseReason::admin_generation,
                        CloseReason::donated, CloseReason::dead_while_idle, CloseReason::check_failed,
                        CloseReason::not_reusable})
        texts.emplace_back(to_string(reason));
    std::sort(texts.begin(), texts.end());
    CHECK(std::adjacent_find(texts.begin(), texts.end()) == texts.end());
    CHECK(std::string(to_string(CloseReason::lifetime_over)) == "server_lifetime over");
}
