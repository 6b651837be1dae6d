// The pool's side of the admin console: SHOW POOLS and SHOW SERVERS (view), RECONNECT,
// KILL, PAUSE and RESUME, and the list of servers on lease that they need. A server leased
// before the latest RECONNECT, KILL or PAUSE (an older admin generation) is closed when it
// comes back.
#include <spdlog/spdlog.h>

#include "protocol/sqlstate.hpp"
#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

namespace sqlstate = protocol::sqlstate;


void Pool::note_leased(ServerConnection* server) {
    std::lock_guard lock(mutex_);
    note_leased_locked(server);
}

void Pool::note_leased_locked(ServerConnection* server) {
    if (server->leased_) return;
    server->leased_ = true;
    server->leased_generation_ = generation_.load();
    server->leased_previous_ = nullptr;
    server->leased_next_ = leased_first_;
    if (leased_first_) leased_first_->leased_previous_ = server;
    leased_first_ = server;
}

bool Pool::forget_leased_locked(ServerConnection* server) {
    if (!server->leased_) return true;
    (server->leased_previous_ ? server->leased_previous_->leased_next_ : leased_first_) = server->leased_next_;
    if (server->leased_next_) server->leased_next_->leased_previous_ = server->leased_previous_;
    server->leased_previous_ = server->leased_next_ = nullptr;
    server->leased_ = false;
    return server->leased_generation_ == generation_.load();
}

awaitable<void> Pool::wait_while_paused() {
    // Outside the lock: no co_await may run while mutex_ is held, since a coroutine may
    // resume on another thread than the one that locked (and a suspension under the lock
    // would block every worker that touches this pool).
    const auto executor = worker_executor(co_await asio::this_coro::executor);
    std::shared_ptr<Waiter> waiter;
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (waiter) {
                if (waiter->error) throw PoolError(*waiter->error);
                if (!waiter->resumed) {
                    std::erase(paused_waiters_, waiter);
                    throw PoolError({"FATAL", sqlstate::kTooManyConnections,
                                     "query_wait_timeout: database \"" + database_ + "\" stayed paused for " +
                                         std::to_string(settings_.query_wait_timeout.count()) + " ms",
                                     {},
                                     "An administrator ran PAUSE; RESUME lets clients in again."});
                }
            }
            if (!paused_) co_return;
            const auto since = waiter ? waiter->since : Clock::now();
            waiter = std::make_shared<Waiter>(executor);
            waiter->timer.emplace(waiter->executor);
            if (settings_.query_wait_timeout.count() > 0)
                waiter->timer->expires_at(since + settings_.query_wait_timeout);
            else
                waiter->timer->expires_at(Clock::time_point::max());
            paused_waiters_.push_back(waiter);
        }
        spdlog::debug("pool {}/{}: paused, client waits", database_, user_);
        co_await waiter->timer->async_wait(asio::as_tuple(use_awaitable));
    }
}

Pool::View Pool::view(bool with_servers) {
    View view;
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    const auto generation = generation_.load();
    view.paused = paused_;
    view.waiting = static_cast<std::uint32_t>(waiters_.size() + paused_waiters_.size());
    view.paused_waiting = static_cast<std::uint32_t>(paused_waiters_.size());
    auto oldest = now;
    for (const auto& waiter : waiters_) oldest = std::min(oldest, waiter->since);
    for (const auto& waiter : paused_waiters_) oldest = std::min(oldest, waiter->since);
    view.maxwait_us = std::chrono::duration_cast<std::chrono::microseconds>(now - oldest).count();

    auto describe = [&](ServerConnection& server, const char* state, bool close_needed) {
        ServerInfo info;
        info.id = server.id();
        info.state = state;
        info.address = server.address();
        info.host_port = &server.cancel_address();
        info.created_at = server.created_at();
        info.released_at = server.released_at();
        info.remote_pid = server.backend_key().process_id;
        info.close_needed = close_needed;
        info.prepared_statements = server.prepared_count();
        // What was read at connect: a leased server's socket belongs to the session that
        // holds it (on another worker, which may be moving it: ServerConnection::move_to).
        info.local_addr = server.local_addr();
        info.local_port = server.local_port();
        view.servers.push_back(std::move(info));
    };
    for (auto& server : idle_) {
        const bool used = pool_policy::past_check_delay({server->created_at(), server->released_at()}, now, settings_);
        ++(used ? view.used : view.idle);
        if (with_servers) describe(*server, used ? "used" : "idle", false);
    }
    std::uint32_t leased = 0;
    for (auto* server = leased_first_; server; server = server->leased_next_) {
        ++leased;
        ++view.active;
        const bool close_needed = server->leased_generation_ != generation;
        view.close_needed += close_needed;
        if (with_servers) describe(*server, "active", close_needed);
    }
    const auto settled = static_cast<std::uint32_t>(idle_.size()) + leased + slots_.closing();
    view.login = slots_.open() > settled ? slots_.open() - settled : 0;
    return view;
}

void Pool::reconnect() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        close_old_idle_locked(to_close);
    }
    retire_all(to_close, "RECONNECT");
}

void Pool::kill(const protocol::ErrorFields& why) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        close_old_idle_locked(to_close);
        auto waiting = waiters_.take_all();
        waiting.insert(waiting.end(), paused_waiters_.begin(), paused_waiters_.end());
        paused_waiters_.clear();
        for (auto& waiter : waiting) {
            waiter->error = why;
            wake(waiter);
        }
        update_starving_locked();
    }
    retire_all(to_close, "KILL");
}

void Pool::pause() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        paused_ = true;
        ++generation_;
        close_old_idle_locked(to_close);
    }
    retire_all(to_close, "PAUSE");
}

void Pool::resume() {
    std::lock_guard lock(mutex_);
    paused_ = false;
    for (auto& waiter : paused_waiters_) {
        waiter->resumed = true;
        wake(waiter);
    }
    paused_waiters_.clear();
}

}  // namespace pgsluice::proxy
