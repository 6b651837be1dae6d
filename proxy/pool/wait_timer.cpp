// The pool's one timer, and how a wait ends. Every waiter's query_wait_timeout and
// reserve_pool_timeout are watched by a single steady_timer on the pool's executor, set to
// the earliest of them (the queue is in arrival order, so that is near its front); slots
// that come free go to waiters in order (grant_waiters_locked); a waiter is woken on its own
// worker (wake).
#include <spdlog/spdlog.h>

#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

void Pool::arm_wait_timer_locked(Clock::time_point due) {
    if (settings_.query_wait_timeout.count() == 0 && settings_.reserve_pool_size == 0) return;
    // A timer set for later than `due` must be brought forward: a waiter that got the
    // reserve pool and left keeps the timer set for its query_wait_timeout, and the clients
    // queued after it must not wait that long for theirs.
    if (wait_timer_armed_ && wait_timer_due_ <= due) return;
    wait_timer_armed_ = true;
    wait_timer_due_ = std::min(wait_timer_due_, due);
    asio::post(io_executor_, [self = shared_from_this()] { self->on_wait_timer(nullptr); });
}

// On io_executor_: ends the waits whose query_wait_timeout passed, gives a reserve slot to
// those that waited reserve_pool_timeout, and sets the timer for what is due next. The
// timer lives only while armed, owned by its own wait (a pool may outlive the io_context, a
// timer must not); a run posted by arm_wait_timer_locked finds it through wait_timer_, which
// only this executor touches, and setting its expiry cancels the wait it had.
void Pool::on_wait_timer(std::shared_ptr<asio::steady_timer> timer) {
    if (!timer) timer = wait_timer_.lock();
    auto next = Clock::time_point::max();
    std::vector<ConnectionBudget*> blocked;
    {
        std::lock_guard lock(mutex_);
        const auto now = Clock::now();
        bool changed = false;
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            auto& waiter = **it;
            auto due = pool_policy::wait_due(waiter.since, waiter.reserve_tried, now, settings_);
            if (due.step == pool_policy::WaitStep::time_out) {
                waiter.timed_out = true;
                auto told = *it;
                it = waiters_.erase(it);
                wake(told);
                changed = true;
                continue;
            }
            if (due.step == pool_policy::WaitStep::try_reserve) {
                // It waited reserve_pool_timeout: it may open one of the reserve_pool_size extras.
                waiter.reserve_tried = true;
                changed = true;
                if (slots_.take(settings_, true)) {
                    waiter.slot = true;
                    waiter.reserve_slot = slots_.open() > settings_.pool_size;
                    auto told = *it;
                    it = waiters_.erase(it);
                    wake(told);
                    continue;
                }
                if (slots_.open() < pool_policy::server_cap(settings_, true) && slots_.blocked_by())
                    blocked.push_back(slots_.blocked_by());
                due = pool_policy::wait_due(waiter.since, waiter.reserve_tried, now, settings_);
            }
            next = std::min(next, due.next);
            if (pool_policy::later_waiters_due_after(waiter.reserve_tried, settings_)) break;
            ++it;
        }
        if (changed) update_starving_locked();
        wait_timer_due_ = next;
        if (next == Clock::time_point::max()) wait_timer_armed_ = false;
    }
    for (auto* budget : blocked)
        slots_.ask_sibling_for_room(budget, "pool " + database_ + "/" + user_ + ", held back by the cap of " + budget->name());
    if (next == Clock::time_point::max()) {
        if (timer) timer->cancel();  // an earlier wait may still be pending
        return;
    }
    if (!timer) {
        timer = std::make_shared<asio::steady_timer>(io_executor_);
        wait_timer_ = timer;
    }
    timer->expires_at(next);
    timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code& ec) mutable {
        if (!ec) self->on_wait_timer(std::move(timer));
    });
}

void Pool::grant_waiters_locked() {
    while (!waiters_.empty()) {
        auto& next = waiters_.front();
        if (!slots_.take(settings_, pool_policy::reserve_allowed(settings_, next->reserve_tried))) break;
        next->slot = true;
        next->reserve_slot = slots_.open() > settings_.pool_size;
        wake(next);
        waiters_.pop_front();
    }
    update_starving_locked();
}

void Pool::update_starving_locked() {
    const bool reserve = !waiters_.empty() && pool_policy::reserve_allowed(settings_, waiters_.front()->reserve_tried);
    slots_.update_starving(settings_, waiters_.oldest_since(), reserve);
}

void Pool::wake(const std::shared_ptr<Waiter>& waiter) {
    if (waiter->quick) {
        // The outcome travels with the call, so the waiter and the session never own each
        // other: should the post never run (shutdown), both are simply freed.
        asio::post(waiter->executor, [self = shared_from_this(), who = std::move(waiter->quick), waiter]() mutable {
            who->on_wait_over(WaitOutcome(std::move(self), std::move(waiter)));
        });
        return;
    }
    // The timer belongs to the waiter's worker: cancel it there, never from this thread.
    asio::post(waiter->executor, [waiter] { waiter->timer->cancel(); });
}

}  // namespace pgsluice::proxy
