// A timer coroutine per worker stamps an atomic; the health probe compares the stamps with now.
#include "proxy/runtime/worker_heartbeat.hpp"

namespace pgsluice::proxy {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ticks() { return Clock::now().time_since_epoch().count(); }

}  // namespace

WorkerHeartbeats::WorkerHeartbeats(std::size_t workers)
    : beats_(new std::atomic<std::int64_t>[workers]), count_(workers) {
    // Counted from now: a worker that never starts is stale kStaleAfter after this.
    for (std::size_t i = 0; i < count_; ++i) beats_[i] = now_ticks();
}

void WorkerHeartbeats::beat(std::size_t worker) { beats_[worker].store(now_ticks(), std::memory_order_relaxed); }

std::shared_ptr<WorkerHeartbeats> WorkerHeartbeats::start(Workers& workers) {
    auto heartbeats = std::make_shared<WorkerHeartbeats>(workers.size());
    for (std::size_t i = 0; i < workers.size(); ++i) {
        // The coroutine holds its own reference: it stamps until its io_context stops.
        asio::co_spawn(
            workers.at(i),
            [](std::shared_ptr<WorkerHeartbeats> self, std::size_t worker) -> awaitable<void> {
                asio::steady_timer timer(co_await asio::this_coro::executor);
                while (true) {
                    self->beat(worker);
                    timer.expires_after(kPeriod);
                    auto [ec] = co_await timer.async_wait(asio::as_tuple(use_awaitable));
                    if (ec) co_return;
                }
            }(heartbeats, i),
            asio::detached);
    }
    return heartbeats;
}

std::string WorkerHeartbeats::stale_workers() const {
    std::string stale;
    const auto now = now_ticks();
    for (std::size_t i = 0; i < count_; ++i) {
        const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
            Clock::duration(now - beats_[i].load(std::memory_order_relaxed)));
        if (silent > kStaleAfter)
            stale += (stale.empty() ? "" : "; ") + std::string("worker ") + std::to_string(i) + ": no heartbeat for " +
                     std::to_string(silent.count()) + " ms";
    }
    return stale;
}

}  // namespace pgsluice::proxy
