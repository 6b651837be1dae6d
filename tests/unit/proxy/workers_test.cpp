// The worker threads' shutdown: stop every worker, join every thread, shut every io_context
// down, and only then destroy them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "proxy/runtime/crypto_thread.hpp"
#include "proxy/runtime/workers.hpp"

using namespace pgsluice::proxy;

namespace {

// A handler that, when destroyed without having run (its worker was shut down), posts to
// another worker, as a session destroyed at shutdown does when its pool wakes a waiter on
// another worker.
struct PostsWhenDropped {
    asio::io_context* other;
    std::shared_ptr<std::atomic<int>> dropped;
    bool ran = false;
    void operator()() { ran = true; }
    PostsWhenDropped(asio::io_context& to, std::shared_ptr<std::atomic<int>> count) : other(&to), dropped(std::move(count)) {}
    PostsWhenDropped(PostsWhenDropped&& from) noexcept
        : other(std::exchange(from.other, nullptr)), dropped(std::move(from.dropped)), ran(from.ran) {}
    ~PostsWhenDropped() {
        if (!other || ran) return;
        ++*dropped;
        asio::post(*other, [dropped = dropped] { ++*dropped; });
    }
};

}  // namespace

TEST_CASE("workers shut down every io_context before destroying any, so a dropped handler may post to another",
          "[unit][workers]") {
    auto dropped = std::make_shared<std::atomic<int>>(0);
    {
        Workers workers(2, spread_limits(0));  // 0: every worker takes clients
        REQUIRE(workers.size() == 2);
        asio::io_context& first = workers.control();
        asio::io_context* second = &workers.next();
        if (second == &first) second = &workers.next();
        REQUIRE(second != &first);

        // Both workers run on their threads and keep each other busy across threads until stop().
        std::atomic<bool> stopping{false};
        std::atomic<long> hops{0};
        std::function<void(asio::io_context*, asio::io_context*)> ping = [&](asio::io_context* here, asio::io_context* there) {
            if (stopping) return;
            ++hops;
            asio::post(*there, [&, here, there] { ping(there, here); });
        };
        asio::post(first, [&] { ping(&first, second); });
        std::thread runner([&] { workers.run(); });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (hops < 1000 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        CHECK(hops >= 1000);
        stopping = true;
        workers.stop();
        runner.join();

        // Pending on stopped workers: each posts to the other when the shutdown drops it.
        asio::post(first, PostsWhenDropped(*second, dropped));
        asio::post(*second, PostsWhenDropped(first, dropped));
    }
    // Both dropped handlers ran their destructors and posted; what they posted never ran and
    // was dropped in turn (no copy of `dropped` is left).
    CHECK(*dropped == 2);
    CHECK(dropped.use_count() == 1);
}

// A server's SCRAM challenge is derived on the crypto thread, and its result posted back to
// the worker that asked. At shutdown the derivation may still run: the workers' io_contexts
// must outlive it (it posts to one, and counts work on it, when it ends).
TEST_CASE("a key derivation still running at shutdown ends before the workers' io_contexts are destroyed",
          "[unit][workers]") {
    std::atomic<bool> started{false}, derived{false};
    {
        Workers workers(1, spread_limits(0));
        asio::co_spawn(
            workers.next(),
            [&]() -> awaitable<void> {
                co_await off_worker([&] {
                    started = true;
                    // As a PBKDF2 of many iterations: still running when the workers stop.
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                    derived = true;
                    return 0;
                });
            },
            asio::detached);
        std::thread runner([&] { workers.run(); });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!started && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        REQUIRE(started);
        workers.stop();
        runner.join();
    }
    // The destructor waited for the derivation (whose result then went with the stopped
    // worker's other pending handlers).
    CHECK(derived);
}
