// Wiring: io_context, threads, listeners, signals.
#include "proxy/daemon.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <vector>

#include "proxy/listener.hpp"
#include "proxy/metrics.hpp"
#include "proxy/proxy_context.hpp"

namespace pgsluice::proxy {

int run_daemon(std::shared_ptr<const config::Config> config, const DaemonHooks& hooks) {
    // A peer that vanishes must be an error code on write, not a signal that kills us.
    std::signal(SIGPIPE, SIG_IGN);

    const unsigned workers = config->workers ? config->workers : std::max(1u, std::thread::hardware_concurrency());
    // Declared before the io_context so it outlives it: destroying the io_context destroys
    // suspended session coroutines, and their destructors still use the context and pools.
    std::unique_ptr<ProxyContext> context_holder;
    asio::io_context io(static_cast<int>(workers));
    context_holder = std::make_unique<ProxyContext>(io.get_executor(), config);
    ProxyContext& context = *context_holder;

    std::vector<std::unique_ptr<Acceptor>> acceptors;
    try {
        acceptors.push_back(std::make_unique<Acceptor>(listen_tcp(io, config->listen.address, config->listen.port)));
        spdlog::info("listening on {}:{}", config->listen.address, config->listen.port);
        if (config->listen.unix_socket_dir) {
            acceptors.push_back(
                std::make_unique<Acceptor>(listen_unix(io, *config->listen.unix_socket_dir, config->listen.port)));
            spdlog::info("listening on {}/.s.PGSQL.{}", *config->listen.unix_socket_dir, config->listen.port);
        }
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    for (auto& acceptor : acceptors) {
        auto name = acceptor->local_endpoint().protocol().family() == AF_UNIX ? std::string("unix socket")
                                                                              : std::string("tcp");
        asio::co_spawn(io, accept_clients(*acceptor, context, name), asio::detached);
    }

    // After the listeners, so /ready means "accepting"; a metrics port in use stops startup.
    Metrics metrics(context);
    if (config->metrics.enabled) {
        try {
            metrics.listen(config->metrics.address, config->metrics.port);
        } catch (const std::exception& e) {
            spdlog::critical("{}", e.what());
            return 1;
        }
        spdlog::info("metrics on http://{}:{}/metrics (also /healthz, /ready)", config->metrics.address,
                     config->metrics.port);
    }

    asio::co_spawn(
        io,
        [&context]() -> awaitable<void> {
            asio::steady_timer tick(co_await asio::this_coro::executor);
            while (true) {
                tick.expires_after(std::chrono::seconds(1));
                auto [ec] = co_await tick.async_wait(asio::as_tuple(use_awaitable));
                if (ec) co_return;
                context.maintain_pools();
            }
        },
        asio::detached);

    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                spdlog::warn("SIGHUP: config reload is not supported yet; restart to apply changes");
                signals.async_wait(on_signal);
                return;
            }
            spdlog::info("{}: shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
            if (hooks.on_stopping) hooks.on_stopping();
            io.stop();
        };
    signals.async_wait(on_signal);
    // The admin console's SHUTDOWN: as SIGINT. Posted, so the console's reply is on the wire first.
    if (!context.lifecycle().shutdown)
        context.lifecycle().shutdown = [&io, &hooks] {
            asio::post(io, [&io, &hooks] {
                spdlog::info("admin SHUTDOWN: shutting down");
                if (hooks.on_stopping) hooks.on_stopping();
                io.stop();
            });
        };

    spdlog::info("pgsluice ready: {} worker thread(s), {} database(s), {} user(s)", workers,
                 config->databases.size(), config->users.size());
    metrics.set_ready(true);
    if (hooks.on_ready) hooks.on_ready();

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < workers; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& thread : threads) thread.join();
    // Idle servers' sockets belong to the io_context: close them while it still exists.
    context.close_idle_servers();
    if (config->listen.unix_socket_dir)
        ::unlink((*config->listen.unix_socket_dir + "/.s.PGSQL." + std::to_string(config->listen.port)).c_str());
    return 0;
}

}  // namespace pgsluice::proxy
