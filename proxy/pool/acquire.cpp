// Taking a server from a pool. Both paths make the same attempt (attempt_locked): an idle
// server, else a slot to open one, else a place in the one queue. The quick path never
// suspends: a queued session is told by on_wait_over. The coroutine path (acquire) also
// waits, opens new servers and runs server_check_query.
#include <spdlog/spdlog.h>

#include "protocol/sqlstate.hpp"
#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_policy.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

namespace sqlstate = protocol::sqlstate;

Pool::Attempt Pool::attempt_locked(const Executor& executor, std::shared_ptr<QuickWaiter> quick) {
    Attempt attempt;
    attempt.pool_size = settings_.pool_size;
    // PAUSE holds clients back, with a coroutine of their own (wait_while_paused).
    if (quick && paused_) {
        attempt.step_aside = true;
        return attempt;
    }
    attempt.idle = take_idle_locked(attempt.freed, executor);
    if (attempt.idle) {
        if (quick && pool_policy::check_due({attempt.idle->created_at(), attempt.idle->released_at()}, EventClock::now(),
                                            settings_)) {
            // Idle past server_check_delay: acquire() checks it first. Put it back.
            idle_.push_back(std::move(attempt.idle));
            attempt.step_aside = true;
            return attempt;
        }
        note_leased_locked(attempt.idle.get());
        return attempt;
    }
    attempt.waiter = std::make_shared<Waiter>(executor);
    if (slots_.take(settings_, false)) {
        attempt.waiter->slot = true;
        return attempt;
    }
    if (quick)
        attempt.waiter->quick = std::move(quick);
    else
        attempt.waiter->timer.emplace(executor, Clock::time_point::max());
    waiters_.push(attempt.waiter);
    attempt.queued = true;
    if (slots_.open() < settings_.pool_size) attempt.blocked = slots_.blocked_by();
    update_starving_locked();
    const auto now = Clock::now();
    arm_wait_timer_locked(pool_policy::wait_due(now, false, now, settings_).next);
    return attempt;
}

bool Pool::settle_attempt(Attempt& attempt) {
    if (attempt.freed) slots_.notify_siblings();
    if (attempt.idle && !keep_if_alive(attempt.idle)) return false;
    if (attempt.blocked)
        slots_.ask_sibling_for_room(attempt.blocked,
                                    "pool " + database_ + "/" + user_ + ", held back by the cap of " + attempt.blocked->name());
    if (attempt.queued) note_client_waits(attempt.blocked, attempt.pool_size);
    return true;
}

Pool::QuickAcquire Pool::acquire_quick(const Executor& executor, std::shared_ptr<QuickWaiter> who) {
    while (true) {
        Attempt attempt;
        {
            std::lock_guard lock(mutex_);
            attempt = attempt_locked(executor, who);
        }
        if (!settle_attempt(attempt)) continue;  // a dead idle server: take the next, or a slot
        QuickAcquire out;
        if (attempt.idle) {
            PoolStats::add(stats_.waits);  // a wait of zero, as acquire() counts it
            out.lease = ServerLease(shared_from_this(), std::move(attempt.idle), ServerLease::Listed{});
            out.lease->move_to(executor);
        } else if (attempt.queued) {
            out.queued = true;
        } else if (attempt.waiter) {
            out.outcome = WaitOutcome(shared_from_this(), std::move(attempt.waiter));
        }
        return out;
    }
}

ServerLease Pool::take_waited_server(WaitOutcome& outcome, const Executor& executor) {
    // No lock: the waiter left the queue before it was woken, so nothing else writes it now,
    // and the post that woke this worker (wake) orders the releaser's writes before this read.
    auto server = std::move(outcome.waiter_->server);
    const auto since = outcome.waiter_->since;
    if (!server) return {};
    outcome.waiter_.reset();  // taken: nothing left to give back
    outcome.pool_.reset();
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(EventClock::now() - since);
    PoolStats::add(stats_.wait_time_us, static_cast<std::uint64_t>(waited.count()));
    PoolStats::add(stats_.waits);
    // Released a moment ago (mark_released): fresh, no check query due. Listed as leased
    // when it was handed to the waiter.
    ServerLease lease(shared_from_this(), std::move(server), ServerLease::Listed{});
    lease->move_to(executor);
    return lease;
}

awaitable<ServerLease> Pool::acquire(WaitOutcome outcome) {
    // Wait time is the whole call (from the quick wait's start, if there was one):
    // queueing, connecting, checking.
    struct WaitClock {
        WaitClock(PoolStats& s, Clock::time_point since) : stats(s), started(since) {}
        ~WaitClock() {
            const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
            PoolStats::add(stats.wait_time_us, static_cast<std::uint64_t>(waited.count()));
            PoolStats::add(stats.waits);
        }
        PoolStats& stats;
        const Clock::time_point started;
    } wait_clock(stats_, outcome ? outcome.waiter_->since : Clock::now());
    const auto executor = worker_executor(co_await asio::this_coro::executor);
    // Taken over from the outcome: its server or slot is consumed here now.
    std::shared_ptr<Waiter> waited = std::move(outcome.waiter_);
    outcome.pool_.reset();
    while (true) {
        // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
        ServerLease lease;
        if (waited)
            lease = co_await finish_wait(std::exchange(waited, nullptr));
        else
            lease = co_await acquire_unchecked();
        lease->move_to(executor);
        const auto settings = this->settings();
        if (!pool_policy::check_due({lease->created_at(), lease->released_at()}, Clock::now(), settings)) co_return lease;
        // Idle long enough that the network or the server may have dropped it: ask first.
        bool healthy = false;
        try {
            auto error = co_await with_deadline(lease->run_simple_query(settings.server_check_query),
                                                settings.server_connect_timeout);
            healthy = !error && lease->state().idle();
        } catch (const std::exception&) {
            healthy = false;
        }
        if (healthy) {
            lease->mark_released();  // fresh again: the next check is a full delay away
            co_return lease;
        }
        lease.release_closed(to_string(CloseReason::check_failed));
    }
}

awaitable<ServerLease> Pool::acquire_unchecked() {
    co_await wait_while_paused();
    const auto executor = worker_executor(co_await asio::this_coro::executor);
    Attempt attempt;
    {
        std::lock_guard lock(mutex_);
        attempt = attempt_locked(executor, nullptr);
    }
    if (!settle_attempt(attempt)) co_return co_await acquire_unchecked();  // a dead one: once more
    if (attempt.idle) co_return ServerLease(shared_from_this(), std::move(attempt.idle), ServerLease::Listed{});
    auto waiter = std::move(attempt.waiter);
    if (attempt.queued) {
        // The timer is only a wake-up: the pool's one timer decides query_wait_timeout and
        // the reserve pool, and Pool::wake cancels this one on this worker.
        while (true) {
            co_await waiter->timer->async_wait(asio::as_tuple(use_awaitable));
            std::lock_guard lock(mutex_);
            if (waiter->decided()) break;
        }
    }
    co_return co_await finish_wait(std::move(waiter));
}

awaitable<ServerLease> Pool::finish_wait(std::shared_ptr<Waiter> waiter) {
    std::string reserve_note;  // for the log line, written under the lock only when a reserve server opens
    {
        std::lock_guard lock(mutex_);
        if (waiter->server)
            co_return ServerLease(shared_from_this(), std::move(waiter->server), ServerLease::Listed{});
        if (waiter->error) throw PoolError(*waiter->error);
        if (waiter->timed_out) {
            PoolStats::add(stats_.wait_timeouts);
            throw PoolError(wait_timeout_error_locked());
        }
        if (waiter->reserve_slot)
            reserve_note = fmt::format("({} ms; {} servers, pool_size {}, reserve_pool_size {})",
                                       settings_.reserve_pool_timeout.count(), slots_.open(), settings_.pool_size,
                                       settings_.reserve_pool_size);
    }
    if (!waiter->slot) co_return co_await acquire_unchecked();  // nothing decided (not expected): start over
    if (!reserve_note.empty())
        spdlog::info("pool {}/{}: a client waited reserve_pool_timeout {}, opening a reserve server", database_, user_,
                     reserve_note);
    co_return co_await open_new();
}

void Pool::abandon(Waiter& waiter) {
    std::unique_ptr<ServerConnection> server;
    bool freed = false;
    {
        std::lock_guard lock(mutex_);
        if (waiters_.remove(waiter)) update_starving_locked();
        server = std::move(waiter.server);
        if (waiter.slot) {
            waiter.slot = false;
            slots_.release();
            grant_waiters_locked();
            freed = true;
        }
    }
    // Given to this waiter a moment ago, idle and clean: the next one may have it.
    if (server) end_lease(std::move(server), true, nullptr);
    if (freed) slots_.notify_siblings();
}

awaitable<ServerLease> Pool::open_new() {
    ServerTarget target;
    std::uint64_t generation = 0;
    Duration connect_timeout{};
    {
        std::lock_guard lock(mutex_);
        target = target_;
        ++connecting_;
        generation = target_generation_;
        connect_timeout = settings_.server_connect_timeout;
    }
    const auto id = ++server_ids_;
    std::unique_ptr<ServerConnection> server;
    std::optional<protocol::ErrorFields> failure;
    try {
        // On the caller's worker: the session that asked for it uses it first.
        server = co_await ServerConnection::connect(worker_executor(co_await asio::this_coro::executor), target,
                                                    connect_timeout, id);
        server->set_generation(generation);
    } catch (const ServerLoginError& e) {
        failure = e.fields;
    }
    if (failure) {
        spdlog::warn("server {} {}: login failed for {}/{}: {}", id, target.address(), database_, user_,
                     failure->message);
        PoolStats::add(stats_.server_connect_failures);
        on_connect_failed(*failure);
        throw PoolError(*failure);
    }
    {
        std::lock_guard lock(mutex_);
        --connecting_;
    }
    PoolStats::add(stats_.server_connects);
    spdlog::info("server {} {}: connected for pool {}/{}", id, server->address(), database_, user_);
    co_return ServerLease(shared_from_this(), std::move(server));
}

void Pool::on_connect_failed(const protocol::ErrorFields& error) {
    {
        std::lock_guard lock(mutex_);
        slots_.release();
        --connecting_;
        last_connect_failure_ = Clock::now();
        if (!waiters_.empty() && slots_.open() == 0) {
            // Nothing else in this pool works either: tell every waiter now rather than at
            // query_wait_timeout.
            for (auto& waiter : waiters_.take_all()) {
                waiter->error = error;
                wake(waiter);
            }
            update_starving_locked();
        } else {
            grant_waiters_locked();  // the next waiter tries again
        }
    }
    slots_.notify_siblings();
}

void Pool::note_client_waits(ConnectionBudget* blocked, std::uint32_t pool_size) {
    // At info level once in a while (the pool at its bound is worth knowing, but not once
    // per transaction under load), at debug level otherwise; not formatted when neither is on.
    const auto level = note_bound_reached() ? spdlog::level::info : spdlog::level::debug;
    if (!spdlog::should_log(level)) return;
    spdlog::log(level, "pool {}/{}: no server free ({}), client waits", database_, user_,
                blocked ? "held back by the cap of " + blocked->name() : "pool_size " + std::to_string(pool_size));
}

bool Pool::note_bound_reached() {
    const auto now = Clock::now().time_since_epoch().count();
    auto last = last_bound_log_.load(std::memory_order_relaxed);
    const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(10)).count();
    if (last != 0 && now - last < every) return false;
    return last_bound_log_.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

protocol::ErrorFields Pool::wait_timeout_error_locked() const {
    std::string why;
    const bool below_pool_size = slots_.open() < settings_.pool_size;
    if (below_pool_size && slots_.blocked_by_database())
        why = "database " + database_ + " has all " + std::to_string(settings_.max_db_connections) +
              " of its max_db_connections in use";
    else if (below_pool_size && slots_.blocked_by_user())
        why = "user " + user_ + " has all " + std::to_string(settings_.max_user_connections) +
              " of its max_user_connections in use";
    else
        why = "pool " + database_ + "/" + user_ + " has all " + std::to_string(settings_.pool_size) + " servers in use";
    return {"FATAL",
            sqlstate::kTooManyConnections,
            "query_wait_timeout: no server connection became free within " +
                std::to_string(settings_.query_wait_timeout.count()) + " ms (" + why + ")",
            {},
            "Raise pool_size (or max_db_connections / max_user_connections) or query_wait_timeout, or look for "
            "long transactions."};
}

}  // namespace pgsluice::proxy
