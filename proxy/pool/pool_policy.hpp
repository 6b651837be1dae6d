// The pool's decisions as plain functions of plain values: how many servers it may open,
// which waiter gets a released server, when a waiter times out or may use the reserve pool,
// which idle server to reuse, which to close and why. No sockets, no locks, no clock reads:
// the Pool gathers the facts under its mutex and acts on the answer, and the unit tests
// (tests/unit/proxy/pool/pool_policy_test.cpp) ask the same questions without a server.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>

#include "config/config.hpp"
#include "proxy/pool/close_reason.hpp"

namespace pgsluice::proxy::pool_policy {

using Clock = std::chrono::steady_clock;

// ---- caps ----

// The most servers the pool itself may have open: pool_size, plus reserve_pool_size for a
// client that waited reserve_pool_timeout. The shared caps (max_db_connections,
// max_user_connections) are counted on top by ConnectionBudget.
inline std::uint32_t server_cap(const config::PoolSettings& settings, bool with_reserve) {
    return settings.pool_size + (with_reserve ? settings.reserve_pool_size : 0);
}

// Whether a waiter may count the reserve pool in: it waited reserve_pool_timeout already.
inline bool reserve_allowed(const config::PoolSettings& settings, bool waited_reserve_timeout) {
    return settings.reserve_pool_size > 0 && waited_reserve_timeout;
}

// A reload lowered pool_size: how many of the idle servers to close now (the busy ones
// are closed as they are released, never under a running transaction).
inline std::uint32_t idle_to_close_on_shrink(std::uint32_t open, std::uint32_t idle, const config::PoolSettings& settings) {
    const std::uint32_t excess = open > settings.pool_size ? open - settings.pool_size : 0;
    return std::min(excess, idle);
}

// ---- a released server ----

struct ReleaseFacts {
    bool current_target = true;      // opened for the pool's current address and login
    bool current_admin_generation = true;  // no RECONNECT, KILL or PAUSE since it was leased
    std::uint32_t open = 0;          // servers open and not closing, this one included
    bool clients_waiting = false;
};

// A server a session gave back in a reusable state: nothing when the pool keeps it,
// otherwise why it is closed instead.
inline std::optional<CloseReason> refuse_on_release(const ReleaseFacts& facts, const config::PoolSettings& settings) {
    if (!facts.current_admin_generation) return CloseReason::admin_generation;
    if (!facts.current_target) return CloseReason::target_changed;
    if (facts.open <= settings.pool_size) return std::nullopt;
    // A reserve server serves the clients waiting now, then goes: reserve is for bursts.
    if (facts.clients_waiting && facts.open <= server_cap(settings, true)) return std::nullopt;
    return facts.open > server_cap(settings, true) ? CloseReason::pool_shrunk : CloseReason::reserve_unneeded;
}

// Pools held back by a shared cap (ConnectionBudget::Starving, with the cap's limit).
struct SiblingDemand {
    std::size_t pools = 0;  // starving pools other than this one
    Clock::time_point oldest = Clock::time_point::max();  // when their oldest waiter arrived
    std::uint32_t limit = 0;  // the shared cap; 0: none
};

// Should this pool give a released server up (close it so that a sibling can open one)
// rather than keep it? When a sibling held back by a shared cap waits and nobody waits
// here, yes. When both wait, only if the sibling's client has waited longer and this pool
// holds more than its share of the cap: the pools converge on fair shares instead of
// closing and reopening a server at every transaction.
inline bool give_up_for_sibling(std::optional<Clock::time_point> own_oldest_waiter, const SiblingDemand& sibling,
                                std::uint32_t open, std::uint32_t donating) {
    if (sibling.limit == 0 || sibling.pools == 0) return false;
    if (own_oldest_waiter && sibling.oldest >= *own_oldest_waiter) return false;
    if (!own_oldest_waiter) return true;
    const auto share = (sibling.limit + static_cast<std::uint32_t>(sibling.pools)) /
                       (static_cast<std::uint32_t>(sibling.pools) + 1);  // rounded up
    return open - donating > share;
}

// ---- an idle server's age ----

struct ServerAge {
    Clock::time_point created_at;
    Clock::time_point released_at;  // equal to created_at until its first release
};

inline bool lifetime_over(const ServerAge& age, Clock::time_point now, const config::PoolSettings& settings) {
    return settings.server_lifetime.count() > 0 && now - age.created_at > settings.server_lifetime;
}

// Idle past server_check_delay (PgBouncer's "used" state in SHOW SERVERS).
inline bool past_check_delay(const ServerAge& age, Clock::time_point now, const config::PoolSettings& settings) {
    return !settings.server_check_query.empty() && now - age.released_at >= settings.server_check_delay;
}

// Whether server_check_query runs before the server is reused. Never for one that has not
// served anyone yet: its login just proved it alive.
inline bool check_due(const ServerAge& age, Clock::time_point now, const config::PoolSettings& settings) {
    return past_check_delay(age, now, settings) && age.released_at != age.created_at;
}

// Maintenance: whether an idle server is closed now, and why. `above_min_pool_size`: the
// pool has more servers than min_pool_size, counting this one.
inline std::optional<CloseReason> idle_expired(const ServerAge& age, Clock::time_point now,
                                               const config::PoolSettings& settings, bool above_min_pool_size) {
    if (lifetime_over(age, now, settings)) return CloseReason::lifetime_over;
    if (settings.server_idle_timeout.count() > 0 && now - age.released_at > settings.server_idle_timeout &&
        above_min_pool_size)
        return CloseReason::idle_timeout;
    return std::nullopt;
}

// Which idle server to reuse: the newest (LIFO, as PgBouncer's default: warm servers are
// reused, old ones age out), and of those the newest on the caller's own worker if there is
// one (moving a socket to another worker's epoll set costs three system calls).
// `worker_of(server)` names a server's worker. The list is in release order, not empty.
template <class IdleList, class WorkerOf>
auto pick_idle(IdleList& idle, const void* worker, WorkerOf worker_of) {
    for (auto it = idle.end(); it != idle.begin();) {
        --it;
        if (worker_of(*it) == worker) return it;
    }
    return std::prev(idle.end());
}

// ---- waiters ----

// How much longer than a waiter on the releasing server's own worker the oldest waiter may
// have waited before it gets the server anyway: short enough that a skewed split of servers
// between workers evens out, long enough that most hand-offs stay on one thread.
inline constexpr auto kLocalHandoffSlack = std::chrono::milliseconds(5);
inline constexpr std::size_t kLocalHandoffScan = 32;  // waiters looked at past the oldest

// Which waiter gets a released server: the oldest (FIFO), except that a waiter on the
// server's worker goes first when it has waited about as long as the oldest. `waiters` is in
// arrival order, not empty; each element points to something with `worker` and `since`.
template <class Waiters>
auto pick_waiter(Waiters& waiters, const void* server_worker) {
    auto pick = waiters.begin();
    if (static_cast<const void*>((*pick)->worker) == server_worker) return pick;
    const auto scan_end = waiters.begin() + static_cast<std::ptrdiff_t>(std::min(waiters.size(), kLocalHandoffScan + 1));
    for (auto it = std::next(waiters.begin()); it != scan_end; ++it) {
        if (static_cast<const void*>((*it)->worker) != server_worker) continue;
        if ((*it)->since - (*pick)->since < kLocalHandoffSlack) pick = it;
        break;
    }
    return pick;
}

// What is due for a waiter still in the queue at `now`.
enum class WaitStep {
    keep_waiting,
    try_reserve,  // it waited reserve_pool_timeout: it may open one of the reserve servers
    time_out,     // query_wait_timeout passed
};
struct WaitDue {
    WaitStep step = WaitStep::keep_waiting;
    Clock::time_point next = Clock::time_point::max();  // keep_waiting: when something is due next
};
inline WaitDue wait_due(Clock::time_point since, bool reserve_tried, Clock::time_point now,
                        const config::PoolSettings& settings) {
    const auto deadline = settings.query_wait_timeout.count() > 0 ? since + settings.query_wait_timeout
                                                                   : Clock::time_point::max();
    const auto reserve_at = settings.reserve_pool_size > 0 && !reserve_tried ? since + settings.reserve_pool_timeout
                                                                             : Clock::time_point::max();
    if (now >= deadline) return {WaitStep::time_out};
    if (now >= reserve_at) return {WaitStep::try_reserve};
    return {WaitStep::keep_waiting, std::min(deadline, reserve_at)};
}

// Whether a waiter later in the queue can have something due before this one's next time.
// Waiters arrive in order, so their deadlines and reserve times do too; only a waiter that
// tried the reserve pool already (and was refused) has nothing left but its deadline, and a
// later one may still be due for the reserve.
inline bool later_waiters_due_after(bool reserve_tried, const config::PoolSettings& settings) {
    return !(settings.reserve_pool_size > 0 && reserve_tried);
}

}  // namespace pgsluice::proxy::pool_policy
