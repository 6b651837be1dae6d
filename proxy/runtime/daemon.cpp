// Wiring: worker threads, listeners, signals; reload and the shutdown drain.
#include "proxy/runtime/daemon.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <csignal>
#include <malloc.h>
#include <thread>
#include <vector>

#include "proxy/runtime/listener.hpp"
#include "proxy/observe/metrics.hpp"
#include "proxy/runtime/proxy_context.hpp"
#include "proxy/runtime/reload.hpp"
#include "proxy/runtime/test_hooks.hpp"
#include "proxy/runtime/worker_heartbeat.hpp"
#include "proxy/runtime/workers.hpp"

namespace pgsluice::proxy {

namespace {

// The file's identity for watch_config: a rewrite changes its mtime or its size.
struct FileStamp {
    std::int64_t mtime_ns = -1;
    std::int64_t size = -1;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<std::int64_t>(st.st_size)};
}

// Settings that let clients in without a password, said once at startup.
void warn_about_open_doors(const config::Config& config) {
    if (config.auth_type == config::AuthType::trust)
        spdlog::warn("auth_type trust: any client may log in as any user without a password");
    for (const auto& [name, database] : config.databases)
        if (database.auth_type == config::AuthType::trust)
            spdlog::warn("databases.{}.auth_type trust: any client may log in to it without a password", name);
    for (const auto& [name, user] : config.users)
        if (user.auth_type == config::AuthType::trust)
            spdlog::warn("users.{}.auth_type trust: any client may log in as {} without a password", name, name);
    for (std::size_t i = 0; i < config.hba.size(); ++i)
        if (config.hba[i].method == config::AuthType::trust)
            spdlog::warn("hba[{}] method trust: the connections it matches log in without a password", i);
}

void notify(const std::function<void()>& hook) {
    if (hook) hook();
}

}  // namespace

int run_daemon(std::shared_ptr<const config::Config> config, const DaemonHooks& hooks) {
    // A peer that vanishes must be an error code on write, not a signal that kills us.
    std::signal(SIGPIPE, SIG_IGN);

    const unsigned workers = config->workers ? config->workers : std::max(1u, std::thread::hardware_concurrency());
    const std::string config_path = config->source_file;
    const std::string unix_socket_path =
        config->listen.unix_socket_dir
            ? *config->listen.unix_socket_dir + "/.s.PGSQL." + std::to_string(config->listen.port)
            : std::string();
    // Declared before the io_contexts so it outlives them: destroying an io_context destroys
    // suspended session coroutines, and their destructors still use the context and pools.
    std::unique_ptr<ProxyContext> context_holder;
    auto tls = tls::TlsContexts::load(*config);
    if (!tls.contexts) {
        for (const auto& error : tls.errors) spdlog::error("{}", error);
        return 1;
    }
    warn_about_open_doors(*config);
    Workers threads(workers, spread_limits(config->worker_spread_above));
    asio::io_context& io = threads.control();
    context_holder = std::make_unique<ProxyContext>(threads, config, std::move(tls.contexts));
    ProxyContext& context = *context_holder;
    // Signals, acceptors, reload (SIGHUP, watch_config), the drain and the one-second tick
    // run on the control thread, which serves no client.
    auto control = io.get_executor();
    // Caught from here on, before anything listens: a SIGHUP sent as soon as the port
    // answers must reload, not kill the process (its default). One that comes before the
    // handler below is set waits in the signal_set for it.
    asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
    auto status = [&hooks](const std::string& line) {
        if (hooks.on_status) hooks.on_status(line);
    };

    std::vector<std::unique_ptr<Acceptor>> acceptors;
    try {
        acceptors.push_back(std::make_unique<Acceptor>(listen_tcp(io, config->listen.address, config->listen.port)));
        spdlog::info("listening on {}:{}", config->listen.address, config->listen.port);
        if (config->listen.unix_socket_dir) {
            acceptors.push_back(
                std::make_unique<Acceptor>(listen_unix(io, *config->listen.unix_socket_dir, config->listen.port,
                                                     config->listen.unix_socket_mode)));
            spdlog::info("listening on {}", unix_socket_path);
        }
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    for (auto& acceptor : acceptors) {
        auto name = acceptor->local_endpoint().protocol().family() == AF_UNIX ? std::string("unix socket")
                                                                              : std::string("tcp");
        asio::co_spawn(control, accept_clients(*acceptor, context, name, threads), asio::detached);
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
    // /healthz means the workers run: each stamps a heartbeat from its own io_context.
    const auto heartbeats = WorkerHeartbeats::start(threads);
    metrics.set_health_check([heartbeats] { return heartbeats->stale_workers(); });
    install_test_hooks(threads);

    auto reload = [&](std::string& report) {
        notify(hooks.on_reloading);
        status("reloading " + config_path);
        const bool ok = reload_config(context, config_path, report);
        notify(hooks.on_ready);
        status(ok ? "accepting connections; config reloaded" : "accepting connections; last reload failed");
        return ok;
    };

    // The drain: stop accepting, let transactions in flight finish (sessions refuse new ones
    // with 57P01), exit when none is busy or at shutdown_timeout.
    bool shutting_down = false;  // on `control`
    auto stop_now = [&](const char* why) {
        spdlog::info("{}: exiting now", why);
        threads.stop();
    };
    auto begin_shutdown = [&](const char* why) {
        if (shutting_down) return;
        shutting_down = true;
        notify(hooks.on_stopping);
        metrics.set_ready(false);
        context.begin_drain();
        for (auto& acceptor : acceptors) {
            boost::system::error_code ignored;
            acceptor->close(ignored);
        }
        if (!unix_socket_path.empty()) ::unlink(unix_socket_path.c_str());
        const auto timeout = context.snapshot()->config->shutdown_timeout;
        spdlog::info("{}: shutting down: stopped accepting; waiting up to {} ms for {} transaction(s) in flight", why,
                     timeout.count(), context.busy_sessions().load());
        status("shutting down: draining");
        asio::co_spawn(
            control,
            [&, timeout]() -> awaitable<void> {
                const auto deadline = Clock::now() + timeout;
                asio::steady_timer poll(co_await asio::this_coro::executor);
                while (context.busy_sessions() > 0 && Clock::now() < deadline) {
                    poll.expires_after(std::chrono::milliseconds(20));
                    co_await poll.async_wait(asio::as_tuple(use_awaitable));
                }
                if (context.busy_sessions() > 0)
                    spdlog::warn("shutdown_timeout ({} ms) passed with {} transaction(s) still in flight; closing them",
                                 timeout.count(), context.busy_sessions().load());
                else
                    spdlog::info("drain complete: no transaction in flight");
                // Clients still connected hear 57P01 rather than a bare close; a short,
                // bounded wait for them to be told.
                if (const auto idle = context.wake_idle_clients(); idle > 0) {
                    spdlog::info("telling {} connected client(s) that pgsluice is shutting down", idle);
                    const auto told_by = Clock::now() + std::chrono::seconds(1);
                    while (context.sessions_left() > 0 && Clock::now() < told_by) {
                        poll.expires_after(std::chrono::milliseconds(10));
                        co_await poll.async_wait(asio::as_tuple(use_awaitable));
                    }
                }
                stop_now("shutdown");
            },
            asio::detached);
    };

    context.lifecycle().reload = reload;
    context.lifecycle().shutdown = [&] { asio::post(control, [&] { begin_shutdown("SHUTDOWN"); }); };

    asio::co_spawn(
        control,
        [&]() -> awaitable<void> {
            asio::steady_timer tick(co_await asio::this_coro::executor);
            FileStamp seen = stamp_of(config_path);
            auto stats_since = Clock::now();
            auto stats_before = context.stats_totals();
            while (true) {
                tick.expires_after(std::chrono::seconds(1));
                auto [ec] = co_await tick.async_wait(asio::as_tuple(use_awaitable));
                if (ec) co_return;
                context.maintain_pools();
                // Logins leave free holes between the blocks of the clients that stay (asio's
                // per-socket state, sessions): hand the whole free pages among them back to the
                // kernel. About 50 µs with thousands of clients; 5,000 idle clients: 890 -> 790 B each.
                ::malloc_trim(0);
                // How many workers take clients, from their load over the last second.
                if (threads.rebalance(spread_limits(context.snapshot()->config->worker_spread_above)))
                    spdlog::info("workers: {} of {} take clients", threads.serving(), threads.size());
                // The periodic stats line (PgBouncer's log_stats), its period live from the config.
                const auto period = context.snapshot()->config->stats_period;
                if (const auto now = Clock::now(); period.count() > 0 && now - stats_since >= period) {
                    auto stats_now = context.stats_totals();
                    spdlog::info("{}", stats_line(stats_before, stats_now,
                                                  std::chrono::duration<double>(now - stats_since).count()));
                    stats_before = stats_now;
                    stats_since = now;
                }
                if (shutting_down) continue;
                const auto now = stamp_of(config_path);
                if (!context.snapshot()->config->watch_config) {
                    seen = now;  // so that turning watch_config on does not reload once more
                    continue;
                }
                if (now != seen) {
                    seen = now;
                    spdlog::info("watch_config: {} changed, reloading", config_path);
                    std::string report;
                    reload(report);
                }
            }
        },
        asio::detached);

    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                spdlog::info("SIGHUP: reloading {}", config_path);
                std::string report;
                reload(report);
            } else if (signal == SIGINT) {
                notify(hooks.on_stopping);
                stop_now("SIGINT");
                return;
            } else if (shutting_down) {
                stop_now("second SIGTERM");
                return;
            } else {
                begin_shutdown("SIGTERM");
            }
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);

    spdlog::info("pgsluice ready: {} worker thread(s), {} database(s), {} user(s)", workers,
                 config->databases.size(), config->users.size());
    metrics.set_ready(true);
    notify(hooks.on_ready);
    status("accepting connections");

    threads.run();
    // Idle servers' sockets belong to the io_contexts: close them while they still exist.
    context.close_idle_servers();
    context.lifecycle() = {};
    if (!unix_socket_path.empty()) ::unlink(unix_socket_path.c_str());
    spdlog::info("pgsluice stopped");
    return 0;
}

}  // namespace pgsluice::proxy
