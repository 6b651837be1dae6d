// A server coming back from its lease: to the next waiter, to the idle list, or closed with
// its reason (pool_policy::refuse_on_release, a sibling pool's need). Closing is graceful:
// Terminate, then the slot is freed once the backend has gone.
#include <spdlog/spdlog.h>

#include "protocol/messages.hpp"
#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

void Pool::end_lease(std::unique_ptr<ServerConnection> server, bool reusable, const char* why) {
    std::unique_ptr<ServerConnection> to_close;
    bool donation = false;
    {
        std::lock_guard lock(mutex_);
        const bool current_admin_generation = forget_leased_locked(server.get());
        if (reusable) {
            const pool_policy::ReleaseFacts facts{server->generation() == target_generation_, current_admin_generation,
                                                  slots_.not_closing(), !waiters_.empty()};
            if (auto refused = pool_policy::refuse_on_release(facts, settings_)) {
                reusable = false;
                why = to_string(*refused);
            }
        }
        if (reusable) {
            server->mark_released();
            if (slots_.sibling_waited_longer(settings_, waiters_.oldest_since())) {
                // Another pool's client waits for the shared cap that this server holds, and
                // has waited longer than anyone here (or nobody waits here): make room for it.
                to_close = std::move(server);
                why = to_string(CloseReason::donated);
                donation = true;
            } else if (!waiters_.empty()) {
                auto next = waiters_.take_for(&asio::query(server->transport().get_executor(), asio::execution::context));
                note_leased_locked(server.get());  // on lease from now: the waiter takes it as it is
                next->server = std::move(server);
                wake(next);
                update_starving_locked();
            } else {
                idle_.push_back(std::move(server));
            }
        } else {
            to_close = std::move(server);
        }
    }
    if (to_close) retire(std::move(to_close), why ? why : to_string(CloseReason::not_reusable), donation);
}

void Pool::retire_all(std::vector<std::unique_ptr<ServerConnection>>& servers, const char* why) {
    for (auto& server : servers) retire(std::move(server), why);
    servers.clear();
}

void Pool::retire(std::unique_ptr<ServerConnection> server, const std::string& why, bool donation) {
    spdlog::info("server {} {}: closing ({})", server->id(), server->address(), why);
    {
        std::lock_guard lock(mutex_);
        slots_.begin_close(donation);
    }
    // On the worker its socket is registered with, where nothing else touches it.
    auto executor = server->transport().get_executor();
    asio::co_spawn(
        executor,
        [self = shared_from_this(), server = std::move(server), donation]() mutable -> awaitable<void> {
            co_await self->retire_gracefully(std::move(server), donation);
        },
        asio::detached);
}

namespace {
// Reads and drops whatever a terminated server still sends, up to its EOF.
awaitable<bool> until_eof(Transport& transport) {
    char sink[512];
    while (true) {
        auto [ec, n] = co_await transport.read_some(asio::buffer(sink));
        if (ec) co_return true;
    }
}
}  // namespace

awaitable<void> Pool::retire_gracefully(std::unique_ptr<ServerConnection> server, bool donation) {
    try {
        std::string terminate;
        protocol::append_terminate(terminate);
        auto& transport = server->transport();
        const auto ec = co_await transport.write(asio::buffer(terminate));
        // A backend whose socket closed has left pg_stat_activity; do not wait for a dead one long.
        if (!ec) co_await with_deadline(until_eof(transport), std::chrono::seconds(2));
    } catch (const std::exception&) {
        // The deadline passed: close it anyway.
    }
    server->close();
    {
        std::lock_guard lock(mutex_);
        slots_.end_close(donation);
        if (!donation) grant_waiters_locked();
    }
    slots_.notify_siblings();
    if (donation) on_budget_freed();  // nobody starved took it after all: this pool's waiters may
}

}  // namespace pgsluice::proxy
