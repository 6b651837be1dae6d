// The pool's idle servers: which one to reuse (pool_policy::pick_idle), whether it is still
// alive, maintenance (server_lifetime, server_idle_timeout, min_pool_size), and closing them
// all at shutdown.
#include <spdlog/spdlog.h>

#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_policy.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

namespace {
// An idle server should have sent nothing; data or EOF means it died or went astray.
bool looks_alive(ServerConnection& server) {
    return !server.transport().has_unread_input_or_eof();
}

const asio::execution_context* worker_of(ServerConnection& server) {
    return &asio::query(server.transport().get_executor(), asio::execution::context);
}
}  // namespace

std::unique_ptr<ServerConnection> Pool::take_idle_locked(bool& freed, const Executor& near) {
    const auto* worker = &asio::query(near, asio::execution::context);
    while (!idle_.empty()) {
        auto pick = pool_policy::pick_idle(idle_, worker, [](auto& server) { return worker_of(*server); });
        auto server = std::move(*pick);
        idle_.erase(pick);
        const bool too_old = pool_policy::lifetime_over({server->created_at(), server->released_at()}, EventClock::now(), settings_);
        const bool outdated = server->generation() != target_generation_;
        // Whether it is alive is asked outside the lock (keep_if_alive): a system call.
        if (!too_old && !outdated) return server;
        // An old one gets no goodbye: close it here.
        spdlog::info("server {} {}: closing ({})", server->id(), server->address(),
                     to_string(too_old ? CloseReason::lifetime_over : CloseReason::target_changed));
        server->close();
        slots_.release();
        freed = true;
    }
    return nullptr;
}

bool Pool::keep_if_alive(std::unique_ptr<ServerConnection>& server) {
    // A server released within the last millisecond is taken as it is, as PgBouncer takes
    // one its event loop has not yet seen close: a backend terminated in that instant is
    // met by the next query instead, as if it had been terminated a moment later, during
    // that query. Under load that spares a system call per transaction.
    constexpr auto kJustReleased = std::chrono::milliseconds(1);
    if (server->released_at() != server->created_at() && EventClock::now() - server->released_at() < kJustReleased)
        return true;
    if (looks_alive(*server)) return true;
    // Its backend is gone already (or it went astray): no goodbye.
    spdlog::info("server {} {}: closing ({})", server->id(), server->address(), to_string(CloseReason::dead_while_idle));
    server->close();
    {
        std::lock_guard lock(mutex_);
        forget_leased_locked(server.get());
        slots_.release();
    }
    server.reset();
    slots_.notify_siblings();
    return false;
}

void Pool::maintain() {
    std::vector<std::pair<std::unique_ptr<ServerConnection>, CloseReason>> to_close;
    std::uint32_t to_open = 0;
    ConnectionBudget* starved_by = nullptr;
    {
        std::lock_guard lock(mutex_);
        const auto now = Clock::now();
        auto open = slots_.not_closing();
        for (auto it = idle_.begin(); it != idle_.end();) {
            auto& server = *it;
            const auto expired = pool_policy::idle_expired({server->created_at(), server->released_at()}, now, settings_,
                                                           open > settings_.min_pool_size);
            if (expired) {
                to_close.emplace_back(std::move(server), *expired);
                it = idle_.erase(it);
                --open;
            } else {
                ++it;
            }
        }
        // Keep min_pool_size servers warm, but give a failing server a few seconds' rest, and
        // leave a shared budget to the pools whose clients wait for it.
        const bool resting = now - last_connect_failure_ < std::chrono::seconds(5);
        if (!resting && !paused_ && !slots_.budget_wanted())
            while (slots_.not_closing() < settings_.min_pool_size && slots_.take(settings_, false)) ++to_open;
        // A starved pool asks its siblings again now and then, should a wake-up have gone amiss.
        starved_by = slots_.starving_on();
    }
    for (auto& [server, reason] : to_close) retire(std::move(server), to_string(reason));
    if (starved_by)
        slots_.ask_sibling_for_room(starved_by,
                                    "pool " + database_ + "/" + user_ + ", held back by the cap of " + starved_by->name());
    for (std::uint32_t i = 0; i < to_open; ++i) {
        asio::co_spawn(
            io_executor_,
            [self = shared_from_this()]() -> awaitable<void> {
                try {
                    auto lease = co_await self->open_new();
                    lease.release_reusable();
                } catch (const PoolError&) {
                    // open_new logged it and gave the slot back.
                }
            },
            asio::detached);
    }
}

void Pool::close_idle() {
    std::deque<std::unique_ptr<ServerConnection>> idle;
    {
        std::lock_guard lock(mutex_);
        idle.swap(idle_);
        for (std::size_t i = 0; i < idle.size(); ++i) slots_.release();
    }
    for (auto& server : idle) server->close();
}

void Pool::close_old_idle_locked(std::vector<std::unique_ptr<ServerConnection>>& to_close) {
    // Their slots stay counted until retire() has seen the backends go.
    for (auto& server : idle_) to_close.push_back(std::move(server));
    idle_.clear();
}

}  // namespace pgsluice::proxy
