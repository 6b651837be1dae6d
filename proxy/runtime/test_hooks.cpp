// SIGUSR2 -> a sleep posted to one worker, when PGSLUICE_TEST_HOOKS=1.
#include "proxy/runtime/test_hooks.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

namespace pgsluice::proxy {

namespace {

long env_number(const char* name, long fallback) {
    const char* text = std::getenv(name);
    return text && *text ? std::strtol(text, nullptr, 10) : fallback;
}

}  // namespace

void install_test_hooks(Workers& workers) {
    const char* enabled = std::getenv("PGSLUICE_TEST_HOOKS");
    if (!enabled || std::string(enabled) != "1") return;
    const auto worker = static_cast<std::size_t>(env_number("PGSLUICE_TEST_WEDGE_WORKER", long(workers.size()) - 1));
    const auto wedge = std::chrono::milliseconds(env_number("PGSLUICE_TEST_WEDGE_MS", 3000));
    if (worker >= workers.size()) {
        spdlog::error("test hooks: PGSLUICE_TEST_WEDGE_WORKER {} is not a worker (0 to {})", worker, workers.size() - 1);
        return;
    }
    // The handler is in place before the line below is logged: a test that waits for the line
    // may signal at once (the default action of SIGUSR2 ends the process).
    auto signals = std::make_unique<asio::signal_set>(workers.control(), SIGUSR2);
    spdlog::warn("test hooks enabled (PGSLUICE_TEST_HOOKS=1): SIGUSR2 wedges worker {} for {} ms", worker,
                 wedge.count());
    // The coroutine owns the signal_set; both end with the control worker's io_context.
    asio::co_spawn(
        workers.control(),
        [](std::unique_ptr<asio::signal_set> signals, Workers& workers, std::size_t worker,
           std::chrono::milliseconds wedge) -> awaitable<void> {
            while (true) {
                auto [ec, signal] = co_await signals->async_wait(asio::as_tuple(use_awaitable));
                if (ec) co_return;
                spdlog::warn("test hook: SIGUSR2: wedging worker {} for {} ms", worker, wedge.count());
                asio::post(workers.at(worker), [wedge] { std::this_thread::sleep_for(wedge); });
            }
        }(std::move(signals), workers, worker, wedge),
        asio::detached);
}

}  // namespace pgsluice::proxy
