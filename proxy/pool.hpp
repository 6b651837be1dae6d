// A pool of server connections for one (database, user): idle servers, a bound on how many
// may be open, and a FIFO queue of sessions waiting for one. Sessions run on every worker
// thread, so the pool's state sits behind one short mutex; nothing
// waits or does I/O while holding it.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "protocol/error_response.hpp"
#include "proxy/asio.hpp"
#include "proxy/connection_budget.hpp"
#include "proxy/pool_stats.hpp"
#include "proxy/server_connection.hpp"
#include "proxy/silence_clock.hpp"

namespace pgsluice::proxy {

// Getting a server failed; `fields` is the ErrorResponse the client gets.
struct PoolError : std::runtime_error {
    protocol::ErrorFields fields;
    explicit PoolError(protocol::ErrorFields f) : std::runtime_error(f.message), fields(std::move(f)) {}
};

class Pool;
struct PoolWaiter;  // a place in a pool's queue (pool.cpp)

// What a session's wait in a pool's queue came to, until the session takes it: a server, a
// slot to open one, an error, or query_wait_timeout. Pool::take_waited_server() takes a
// server at once; Pool::acquire(outcome) does the rest. Dropped untaken, it gives back what
// it holds, so no slot or server is lost on any path.
class WaitOutcome {
public:
    WaitOutcome() = default;
    WaitOutcome(std::shared_ptr<Pool> pool, std::shared_ptr<PoolWaiter> waiter);
    WaitOutcome(WaitOutcome&&) noexcept = default;
    WaitOutcome& operator=(WaitOutcome&& other) noexcept;
    WaitOutcome(const WaitOutcome&) = delete;
    WaitOutcome& operator=(const WaitOutcome&) = delete;
    ~WaitOutcome();

    explicit operator bool() const { return waiter_ != nullptr; }

private:
    friend class Pool;
    void give_back();
    std::shared_ptr<Pool> pool_;
    std::shared_ptr<PoolWaiter> waiter_;
};

// A server on loan to one session. Dropping the lease without release_reusable() closes the
// server: the safe default when a session ends in a state nobody checked.
class ServerLease {
public:
    ServerLease() = default;
    ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server);
    // For the pool itself, which listed the server as leased already (under its lock).
    struct Listed {};
    ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server, Listed);
    ServerLease(ServerLease&&) noexcept = default;
    ServerLease& operator=(ServerLease&& other) noexcept;
    ServerLease(const ServerLease&) = delete;
    ServerLease& operator=(const ServerLease&) = delete;
    ~ServerLease();

    explicit operator bool() const { return server_ != nullptr; }
    ServerConnection* operator->() const { return server_.get(); }
    ServerConnection& operator*() const { return *server_; }

    void release_reusable();             // back to the pool for the next client
    void release_closed(const char* why);  // close it, with the reason for the log

private:
    std::shared_ptr<Pool> pool_;
    std::unique_ptr<ServerConnection> server_;
};

class Pool : public std::enable_shared_from_this<Pool>, public BudgetMember {
public:
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

    // A session that waits for a server with no coroutine (the quick path). Told once, on
    // its own worker, when its wait is over, whatever the outcome.
    class QuickWaiter {
    public:
        virtual void on_wait_over(WaitOutcome outcome) = 0;

    protected:
        ~QuickWaiter() = default;
    };
    struct QuickAcquire {
        ServerLease lease;    // an idle server, moved to the caller's worker
        WaitOutcome outcome;  // a slot was free: acquire(outcome) opens the server
        bool queued = false;  // the pool is at its bound: `who` is told when a server comes
    };
    // The quick path's acquire, which never suspends: an idle server that needs no check
    // query, or a place in the FIFO queue (no coroutine, no timer of its own: one timer per
    // pool watches query_wait_timeout). Nothing of the three when acquire() must do it all
    // (paused, a reserve pool to consider, an idle server due for its check query).
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
    // Reload: new settings apply to the next acquire. A smaller pool_size closes idle
    // servers now and the excess busy ones as they are released; a larger one lets waiters
    // open servers at once.
    void update(const config::PoolSettings& settings);
    // Reload: the server's address, dbname or login changed. Idle servers are closed now,
    // busy ones when released (their generation is older), never under a running transaction.
    void retarget(ServerTarget target);
    // A target equal to the current one except for what the pool learnt itself (client_key).
    bool same_target(const ServerTarget& target) const;
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

    awaitable<ServerLease> acquire_unchecked();
    // acquire_quick's one attempt; nothing when the idle server it took was dead.
    std::optional<QuickAcquire> try_acquire_quick(const Executor& executor, std::shared_ptr<QuickWaiter>& who);
    // What a quick waiter's finished wait came to, as a server (or PoolError).
    awaitable<ServerLease> finish_wait(std::shared_ptr<Waiter> waiter);
    // A wait given up untaken: out of the queue, its server or slot given back.
    void abandon(Waiter& waiter);
    // Quick waiters' query_wait_timeout: one timer per pool, at the oldest one's deadline.
    void arm_quick_deadline_locked();
    void expire_quick_waiters(std::shared_ptr<asio::steady_timer> timer);
    awaitable<void> wait_while_paused();
    void note_leased(ServerConnection* server);
    void note_leased_locked(ServerConnection* server);
    bool forget_leased_locked(ServerConnection* server);  // true when of the current generation
    void publish_traffic_limits_locked();
    void close_old_idle_locked(std::vector<std::unique_ptr<ServerConnection>>& to_close);
    void give_back(std::unique_ptr<ServerConnection> server, bool reusable, const char* why);
    // `freed`: it closed a server whose slot a sibling pool may now use.
    // Prefers a server already on `near`'s worker.
    std::unique_ptr<ServerConnection> take_idle_locked(bool& freed, const Executor& near);
    // Without the lock: whether an idle server just taken is alive; a dead one is closed,
    // its slot freed, and `server` emptied.
    bool keep_if_alive(std::unique_ptr<ServerConnection>& server);
    // Servers above pool_size (after a shrink, or a reserve server nobody waits for) or of
    // an older target are not reused.
    bool keep_on_release_locked(const ServerConnection& server) const;
    void on_connect_failed(const protocol::ErrorFields& error);
    // Slots: one per open server, counted in this pool and in the shared budgets.
    bool take_slot_locked(bool with_reserve);
    void release_slot_locked();
    bool reserve_due_locked(const Waiter& waiter) const;
    // Hands free slots to waiters (FIFO), who then open a server each.
    void grant_waiters_locked();
    void update_starving_locked();
    bool sibling_waited_longer_locked() const;
    // After a slot was released (no lock held): let starved sibling pools use it.
    void notify_budgets();
    // After a waiter was blocked by `budget` (no lock held): ask a sibling to close an idle server.
    void make_room(ConnectionBudget* budget);
    protocol::ErrorFields wait_timeout_error_locked() const;
    // True at most once every 10 s: whether "client waits" is worth an info line now.
    bool note_bound_reached();
    // The "client waits" line; `pool_size` as read under the lock when the client queued.
    void note_client_waits(ConnectionBudget* blocked, std::uint32_t pool_size);
    // Closes a server whose slot is still counted, and frees the slot only once PostgreSQL
    // let the backend go: a shared cap then holds as pg_stat_activity sees it.
    // A donation's slot goes to the starved sibling pools before this pool's own waiters.
    void retire(std::unique_ptr<ServerConnection> server, const std::string& why, bool donation = false);
    void retire_all(std::vector<std::unique_ptr<ServerConnection>>& servers, const char* why);
    awaitable<void> retire_gracefully(std::unique_ptr<ServerConnection> server, bool donation);
    // Tells a waiter its wait is over; it is out of the queue already.
    void wake(const std::shared_ptr<Waiter>& waiter);
    // Takes the waiter that gets `server` out of the queue (FIFO, with a preference for the
    // server's own worker). The queue is not empty.
    std::shared_ptr<Waiter> next_waiter_locked(ServerConnection& server);
    awaitable<ServerLease> open_new();

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
    std::deque<std::unique_ptr<ServerConnection>> idle_;
    std::deque<std::shared_ptr<Waiter>> waiters_;
    std::uint32_t open_ = 0;
    std::uint32_t connecting_ = 0;
    std::uint32_t closing_ = 0;   // counted in open_: Terminate sent, waiting for the backend to go
    std::uint32_t donating_ = 0;  // of closing_: closing to make room for a sibling pool
    Clock::time_point last_connect_failure_{};
    std::atomic<Clock::rep> last_bound_log_{0};
    std::shared_ptr<ConnectionBudget> db_budget_;    // set once by share_budgets
    std::shared_ptr<ConnectionBudget> user_budget_;
    ConnectionBudget* blocked_by_ = nullptr;   // the budget that refused the last slot
    ConnectionBudget* starving_on_ = nullptr;  // where this pool counts itself starved
    // Admin console state. A server on lease remembers the generation it was leased in;
    // RECONNECT, KILL and PAUSE start a new one, and an older server is closed at release.
    std::atomic<std::uint64_t> generation_{0};  // written under mutex_
    const Clock::time_point created_at_ = Clock::now();
    bool paused_ = false;
    std::deque<std::shared_ptr<Waiter>> paused_waiters_;
    bool quick_deadline_armed_ = false;  // guarded by mutex_
    // Servers on lease (ServerConnection's list hook), guarded by mutex_.
    ServerConnection* leased_first_ = nullptr;
    // settings_'s traffic limits in milliseconds, for traffic_limits().
    std::atomic<Duration::rep> query_timeout_ms_{0};
    std::atomic<Duration::rep> idle_transaction_timeout_ms_{0};
    std::atomic<Duration::rep> client_idle_timeout_ms_{0};
};

}  // namespace pgsluice::proxy
