// The worker threads: one io_context per thread, each run by that thread alone, and one
// control thread that serves no client.
//
// A client session runs on one worker at a time, so its handlers never cross threads and
// need no strand; the scheduler of a one-thread io_context takes no contended lock and never
// wakes a second thread to run a handler. What is shared between workers (pools, budgets,
// registries) sits behind its own short mutex. A server connection moves to the worker of
// the session that leases it (ServerConnection::move_to); a session moves only while it is
// parked between transactions, when the first few workers serve all clients (worker_spread.hpp).
// The control thread runs what must not delay a client's transaction: signals, accept,
// reload, the drain, the one-second tick (pool maintenance, malloc_trim, the stats line) and
// the pools' wait timers.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/runtime/worker_spread.hpp"

namespace pgsluice::proxy {

class Workers {
public:
    // `limits` only says how many take clients at first: all of them when spreading is off,
    // else one until rebalance() measures a load.
    Workers(unsigned count, const SpreadLimits& limits);
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    std::size_t size() const { return workers_.size(); }
    // The control thread's io_context: the daemon's control work, never a client.
    asio::io_context& control() { return *control_; }
    // Worker `index` (0 is the main thread's), for work that must run on every one.
    asio::io_context& at(std::size_t index) { return *workers_.at(index).context; }
    // Where the next accepted client goes: round robin over the serving workers.
    asio::io_context& next();

    // How many workers take clients now: the first serving() ones.
    unsigned serving() const { return serving_.load(std::memory_order_relaxed); }
    // Each worker's sessions, counted as they come, go and move (for the balance and metrics).
    void session_arrived(const Executor& where) { count_of(where).fetch_add(1, std::memory_order_relaxed); }
    void session_left(const Executor& where) { count_of(where).fetch_sub(1, std::memory_order_relaxed); }
    void session_moved(const Executor& from, const Executor& to) {
        session_left(from);
        session_arrived(to);
        moves_.fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }
    std::vector<long> sessions_per_worker() const;
    // Where a session parked on `here` should move: to a serving worker when `here` serves no
    // longer, or to the serving worker with the fewest sessions when `here` has two more;
    // null to stay.
    asio::io_context* destination(const Executor& here);

    // Every second, from the control worker: each serving worker's CPU share since the last
    // call decides how many serve next (workers_to_serve). Returns true when that changed.
    bool rebalance(const SpreadLimits& limits);

    // Runs every worker and the control thread; returns when all have stopped (stop()) and
    // their threads have ended. The threads are named "pgsluice-wN" (N from 1; worker 0 is
    // the process's main thread) and "pgsluice-ctl", for top -H and ps. An exception out of
    // a handler on worker 0 or the control thread stops the rest and is rethrown here.
    void run();
    // Stops every worker and the control thread (from any thread); run() then returns.
    void stop();

    // Destruction stops every worker, joins every thread, then shuts every io_context down
    // before any is destroyed: shutting one down destroys its pending handlers (suspended
    // sessions), whose destructors may still post to another worker (a pool waking a
    // waiter), which must then still exist.
    ~Workers();

private:
    // An io_context whose shutdown (protected in Asio) the destructor can call by itself.
    struct Context : asio::io_context {
        using asio::io_context::io_context;
        using asio::execution_context::shutdown;
    };
    struct Worker {
        std::unique_ptr<Context> context;
        std::atomic<long> sessions{0};
        clockid_t cpu_clock{};  // the thread's CPU clock, known once run() started it
        double cpu_seen = 0;    // seconds, at the last rebalance
    };
    std::atomic<long>& count_of(const Executor& where) { return workers_[index_of(where)].sessions; }
    std::size_t index_of(const Executor& where) const;
    double cpu_seconds(const Worker& worker) const;

    void join();

    std::vector<Worker> workers_;
    std::unique_ptr<Context> control_;
    unsigned first_stat_shard_ = 0;  // worker i writes PoolStats shard first_stat_shard_ + i
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
    std::vector<std::thread> threads_;  // workers 1..N-1 and the control thread, while run() runs them
    std::atomic<std::size_t> next_{0};
    std::atomic<unsigned> serving_{1};
    std::atomic<std::uint64_t> moves_{0};
    bool clocks_known_ = false;  // set by run(), before the control worker runs
    std::chrono::steady_clock::time_point rebalanced_at_;
};

}  // namespace pgsluice::proxy
