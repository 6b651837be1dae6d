// A pool's queue of sessions waiting for a server, in arrival order (FIFO), and what each
// wait comes to. One queue for both paths: the quick path's waiters (told through their
// session's QuickWaiter) and the coroutine path's (woken through a timer used as a
// condition variable). Deadlines are not the waiters' own: one timer per pool watches
// query_wait_timeout and reserve_pool_timeout for all of them (Pool::on_wait_timer).
// Guarded by the pool's mutex.
#pragma once

#include <deque>
#include <memory>
#include <optional>

#include "protocol/error_response.hpp"
#include "proxy/asio.hpp"
#include "proxy/pool/lease.hpp"
#include "proxy/backend/server_connection.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

// A session waiting for a server. The pool fills in what the wait came to (a `server`, a
// `slot` to open one, an `error`, `timed_out`) under its mutex, takes the waiter out of the
// queue, then wakes it on its own worker (Pool::wake); the waiter reads the outcome under
// the mutex.
struct PoolWaiter {
    explicit PoolWaiter(Executor executor_)
        : executor(executor_), worker(&asio::query(executor_, asio::execution::context)) {}
    const Executor executor;                 // its session's worker
    const asio::execution_context* worker;  // the same, to compare (pool_policy::pick_waiter)
    std::optional<asio::steady_timer> timer;  // a coroutine's wake-up (never expires by itself)
    std::shared_ptr<QuickWaiter> quick;       // a quick waiter's session, until told
    Clock::time_point since = EventClock::now();   // FIFO across pools, deadlines, the longest wait
    bool reserve_tried = false;  // it waited reserve_pool_timeout and asked for a reserve slot
    std::unique_ptr<ServerConnection> server;
    bool slot = false;
    bool reserve_slot = false;  // the slot granted is one of the reserve_pool_size extras
    std::optional<protocol::ErrorFields> error;
    bool resumed = false;    // a paused pool resumed: try again
    bool timed_out = false;  // query_wait_timeout passed in the queue

    bool decided() const { return server || slot || error || timed_out; }
};

class WaiterQueue {
public:
    using Entry = std::shared_ptr<PoolWaiter>;
    using iterator = std::deque<Entry>::iterator;

    bool empty() const { return queue_.empty(); }
    std::size_t size() const { return queue_.size(); }
    iterator begin() { return queue_.begin(); }
    iterator end() { return queue_.end(); }
    const Entry& front() const { return queue_.front(); }
    std::optional<Clock::time_point> oldest_since() const {
        if (queue_.empty()) return std::nullopt;
        return queue_.front()->since;
    }

    void push(Entry waiter) { queue_.push_back(std::move(waiter)); }
    Entry pop_front();
    iterator erase(iterator it) { return queue_.erase(it); }
    // True when it was still queued.
    bool remove(const PoolWaiter& waiter);
    // The waiter that gets a server released on `server_worker` (pool_policy::pick_waiter),
    // out of the queue. The queue is not empty.
    Entry take_for(const asio::execution_context* server_worker);
    std::deque<Entry> take_all() { return std::exchange(queue_, {}); }

private:
    std::deque<Entry> queue_;
};

}  // namespace pgsluice::proxy
