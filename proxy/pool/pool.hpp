// A pool of server connections for one (database, user): idle servers, its slots (the
// bound on how many may be open, counted in the budgets shared with sibling pools), and one
// FIFO queue of sessions waiting for a server, watched by one timer. Sessions run on every
// worker thread, so the pool's state sits behind one short mutex; nothing waits or does I/O
// while holding it.
//
// The pool's code, by job:
//   pool.cpp         construction, settings, reload (update, retarget), the budgets' callbacks
//   acquire.cpp      taking a server: the one attempt both paths share, waiting, opening one
//   wait_timer.cpp   the pool's one timer: query_wait_timeout and reserve_pool_timeout
//   release.cpp      a server coming back: to a waiter, to the idle list, or closed (retire)
//   idle_servers.cpp the idle list: which to reuse, liveness, maintenance, closing them all
//   admin.cpp        SHOW POOLS/SERVERS, RECONNECT, KILL, PAUSE, RESUME, the leased list
//   pool_policy.hpp  the decisions (caps, FIFO, reserve, shrink, close reasons), socket-free
//   slot_account.*   the slots and the shared budgets, socket-free
//   waiter_queue.*   the queue and what a wait comes to
//   lease.*          ServerLease, WaitOutcome, QuickWaiter: what a session holds
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "protocol/error_response.hpp"
#include "proxy/asio.hpp"
#include "proxy/pool/close_reason.hpp"
#include "proxy/pool/connection_budget.hpp"
#include "proxy/pool/lease.hpp"
#include "proxy/pool/pool_stats.hpp"
#include "proxy/pool/slot_account.hpp"
#include "proxy/pool/waiter_queue.hpp"
#include "proxy/backend/server_connection.hpp"
#include "proxy/session/silence_clock.hpp"

namespace pgsluice::proxy {

// Getting a server failed; `fields` is the ErrorResponse the client gets.
struct PoolError : std::runtime_error {
    protocol::ErrorFields fields;
    explicit PoolError(protocol::ErrorFields f) : std::runtime_error(f.message), fields(std::move(f)) {}
};

class Pool : public std::enable_shared_from_this<Pool>, public BudgetMember {
public:
    // `io_executor`: where the pool's own work runs (its timer, maintenance's new servers):
    // the control thread, which serves no client.
    Pool(std::string database, std::string user, ServerTarget target, config::PoolSettings settings,
         Executor io_executor, std::atomic<std::uint64_t>& server_ids);
    ~Pool() override;

    // The budgets this pool shares with the other pools of its database and of its user
    // (settings().max_db_connections and max_user_connections are their limits). Called
    // once, right after construction; either may be null.
    void share_budgets(std::shared_ptr<ConnectionBudget> database, std::shared_ptr<ConnectionBudget> user);

    // An idle server, a new one if the pool is below its bound, or the first one released
    // while this session waits (FIFO). Throws PoolError on timeout or connect failure.
    // With an `outcome` (of acquire_quick's wait): what that wait came to, finished.
    awaitable<ServerLease> acquire(WaitOutcome outcome = {});

    using QuickWaiter = proxy::QuickWaiter;
    struct QuickAcquire {
        ServerLease lease;    // an idle server, moved to the caller's worker
        WaitOutcome outcome;  // a slot was free: acquire(outcome) opens the server
        bool queued = false;  // the pool is at its bound: `who` is told when a server comes
    };
    // The quick path's acquire, which never suspends: an idle server that needs no check
    // query, a slot, or a place in the queue (no coroutine, no timer of its own). Nothing of
    // the three when acquire() must do it all: the pool is paused, or the idle server it
    // would get is due for its check query.
    QuickAcquire acquire_quick(const Executor& executor, std::shared_ptr<QuickWaiter> who);
    // The server a finished wait brought, moved to `executor`'s worker; empty (and
    // `outcome` untouched) when it brought anything else.
    ServerLease take_waited_server(WaitOutcome& outcome, const Executor& executor);

    // For SCRAM pass-through: the ClientKey a client proved at login, kept for connecting.
    void remember_client_key(const protocol::scram::Key& client_key);

    const std::string& database() const { return database_; }
    const std::string& user() const { return user_; }
    // A copy: reload may replace the settings at any time (update()).
    config::PoolSettings settings() const;
    // Only the timeouts that watch a client holding a server: read without the lock (they
    // are asked for at every transaction).
    SilenceLimits traffic_limits() const;
    // The prepared-statement limits, read without the lock too (asked for twice per
    // transaction in transaction mode).
    struct PreparedLimits {
        std::uint32_t per_server = 0;  // max_prepared_statements; 0: not tracked
        std::uint32_t per_client = 0;  // max_client_prepared_statements
    };
    PreparedLimits prepared_limits() const;
    // Reload: new settings apply to the next acquire. A smaller pool_size closes idle
    // servers now and the excess busy ones as they are released; a larger one lets waiters
    // open servers at once.
    void update(const config::PoolSettings& settings);
    // Reload: the target new servers are opened for. When the server's address, dbname,
    // login or TLS settings changed (same_login), idle servers are closed now, busy ones
    // when released (their generation is older), never under a running transaction; else
    // the open servers stay and only new ones see the rest (a new TLS context, allow_md5).
    void retarget(ServerTarget target);
    PoolStats& stats() { return stats_; }

    struct Counts {
        std::uint32_t open = 0;  // idle + in use + connecting
        std::uint32_t idle = 0;
        std::uint32_t waiting = 0;
        std::uint32_t connecting = 0;        // slots taken, login to the server in progress
        std::uint32_t idle_unchecked = 0;    // of `idle`: idle past server_check_delay (checked before reuse)
        std::chrono::microseconds longest_wait{0};  // how long the oldest waiter has waited so far
    };
    Counts counts();
    // Closes every idle server (shutdown).
    void close_idle();
    // Called about once a second: closes servers past server_idle_timeout (above
    // min_pool_size) or server_lifetime, and opens servers up to min_pool_size.
    void maintain();

    // ---- for the admin console ----
    struct ServerInfo {
        std::uint64_t id = 0;
        const char* state = "idle";  // active | idle | used (idle past server_check_delay)
        std::string address;
        const CancelAddress* host_port = nullptr;  // where it was opened to (a reload may have moved its pool since)
        std::string local_addr;
        std::uint16_t local_port = 0;
        Clock::time_point created_at{};
        Clock::time_point released_at{};
        std::uint32_t remote_pid = 0;
        bool close_needed = false;  // RECONNECT/KILL/PAUSE: closed when released
        std::size_t prepared_statements = 0;  // named statements pgsluice keeps on it
    };
    struct View {
        std::uint32_t active = 0, idle = 0, used = 0, login = 0, waiting = 0, close_needed = 0;
        std::uint32_t paused_waiting = 0;  // of `waiting`, those held back by PAUSE
        Duration::rep maxwait_us = 0;  // the oldest waiter's wait so far
        bool paused = false;
        std::vector<ServerInfo> servers;  // only when asked for
    };
    View view(bool with_servers);
    Clock::time_point created_at() const { return created_at_; }
    // Closes idle servers now and servers in use when they are released: the next
    // transactions get new ones.
    void reconnect();
    // As reconnect, and every client waiting for a server gets `why` now.
    void kill(const protocol::ErrorFields& why);
    // New transactions wait (up to query_wait_timeout) until resume(); servers are closed as
    // they are released, as PgBouncer's PAUSE does.
    void pause();
    void resume();

    // BudgetMember
    void on_budget_freed() override;
    bool surrender_idle(const std::string& for_whom) override;

private:
    friend class ServerLease;
    friend class WaitOutcome;
    using Waiter = PoolWaiter;

    // ---- acquire.cpp ----
    // The one attempt to take a server that both paths make, under the lock: an idle server
    // (listed as leased, its liveness not yet asked), a slot (a waiter with `slot`), or a
    // place in the queue. `quick`: the quick path's session (null: a coroutine waits).
    struct Attempt {
        std::unique_ptr<ServerConnection> idle;
        std::shared_ptr<Waiter> waiter;  // granted a slot, or queued
        bool queued = false;
        bool step_aside = false;          // quick path only: acquire() must do it
        bool freed = false;               // a slot came free (an old idle server closed)
        ConnectionBudget* blocked = nullptr;
        std::uint32_t pool_size = 0;
    };
    Attempt attempt_locked(const Executor& executor, std::shared_ptr<QuickWaiter> quick);
    // What follows an attempt, without the lock: budgets told, the wait logged. False when
    // the idle server it took was dead (then try again).
    bool settle_attempt(Attempt& attempt);
    awaitable<ServerLease> acquire_unchecked();
    // What a finished wait came to, as a server (or PoolError).
    awaitable<ServerLease> finish_wait(std::shared_ptr<Waiter> waiter);
    // A wait given up untaken: out of the queue, its server or slot given back.
    void abandon(Waiter& waiter);
    awaitable<ServerLease> open_new();
    void on_connect_failed(const protocol::ErrorFields& error);
    protocol::ErrorFields wait_timeout_error_locked() const;
    // True at most once every 10 s: whether "client waits" is worth an info line now.
    bool note_bound_reached();
    // The "client waits" line; `pool_size` as read under the lock when the client queued.
    void note_client_waits(ConnectionBudget* blocked, std::uint32_t pool_size);

    // ---- wait_timer.cpp ----
    // Makes sure the timer runs by `due` (the newest waiter's first due time); the default,
    // after a reload, recomputes every waiter's.
    void arm_wait_timer_locked(Clock::time_point due = Clock::time_point::min());
    void on_wait_timer(std::shared_ptr<asio::steady_timer> timer);
    // Tells a waiter its wait is over; it is out of the queue already.
    void wake(const std::shared_ptr<Waiter>& waiter);
    // Hands free slots to waiters (FIFO), who then open a server each.
    void grant_waiters_locked();
    void update_starving_locked();

    // ---- release.cpp ----
    // A lease ended: the server goes to the next waiter, to the idle list, or is closed.
    void end_lease(std::unique_ptr<ServerConnection> server, bool reusable, const char* why);
    // Closes a server whose slot is still counted, and frees the slot only once PostgreSQL
    // let the backend go: a shared cap then holds as pg_stat_activity sees it.
    // A donation's slot goes to the starved sibling pools before this pool's own waiters.
    void retire(std::unique_ptr<ServerConnection> server, const std::string& why, bool donation = false);
    void retire_all(std::vector<std::unique_ptr<ServerConnection>>& servers, const char* why);
    awaitable<void> retire_gracefully(std::unique_ptr<ServerConnection> server, bool donation);

    // ---- idle_servers.cpp ----
    // An idle server for `near`'s worker, if one is fit for reuse; old ones found on the way
    // are closed (`freed`: a slot a sibling pool may now use).
    std::unique_ptr<ServerConnection> take_idle_locked(bool& freed, const Executor& near);
    // Without the lock: whether an idle server just taken is alive; a dead one is closed,
    // its slot freed, and `server` emptied.
    bool keep_if_alive(std::unique_ptr<ServerConnection>& server);
    void close_old_idle_locked(std::vector<std::unique_ptr<ServerConnection>>& to_close);

    // ---- admin.cpp ----
    awaitable<void> wait_while_paused();
    void note_leased(ServerConnection* server);
    void note_leased_locked(ServerConnection* server);
    bool forget_leased_locked(ServerConnection* server);  // true when of the current admin generation

    // The settings read without the lock (traffic_limits, prepared_limits), from settings_.
    void publish_lock_free_settings_locked();

    const std::string database_;
    const std::string user_;
    config::PoolSettings settings_;  // guarded by mutex_
    const Executor io_executor_;
    std::atomic<std::uint64_t>& server_ids_;
    PoolStats stats_;

    mutable std::mutex mutex_;
    ServerTarget target_;  // guarded: client_key may be filled in later
    // Bumped by retarget(): a server opened for an older generation is closed on release.
    std::uint64_t target_generation_ = 0;
    std::deque<std::unique_ptr<ServerConnection>> idle_;  // in release order
    WaiterQueue waiters_;
    SlotAccount slots_{this};
    std::uint32_t connecting_ = 0;  // of the slots: login to the server in progress
    bool wait_timer_armed_ = false;
    Clock::time_point wait_timer_due_ = Clock::time_point::max();  // when the armed timer runs
    std::weak_ptr<asio::steady_timer> wait_timer_;  // touched only on io_executor_
    Clock::time_point last_connect_failure_{};
    std::atomic<Clock::rep> last_bound_log_{0};
    // Admin console state. A server on lease remembers the generation it was leased in;
    // RECONNECT, KILL and PAUSE start a new one, and an older server is closed at release.
    std::atomic<std::uint64_t> generation_{0};  // written under mutex_
    const Clock::time_point created_at_ = Clock::now();
    bool paused_ = false;
    std::deque<std::shared_ptr<Waiter>> paused_waiters_;
    // Servers on lease (ServerConnection's list hook), guarded by mutex_.
    ServerConnection* leased_first_ = nullptr;
    // settings_'s traffic limits in milliseconds, for traffic_limits().
    std::atomic<Duration::rep> query_timeout_ms_{0};
    std::atomic<Duration::rep> idle_transaction_timeout_ms_{0};
    std::atomic<Duration::rep> client_idle_timeout_ms_{0};
    std::atomic<std::uint32_t> max_prepared_statements_{0};
    std::atomic<std::uint32_t> max_client_prepared_statements_{0};
};

}  // namespace pgsluice::proxy
