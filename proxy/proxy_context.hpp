// What every session shares: the current config snapshot with its credentials, the pools,
// the cancel keys, and process-wide counters. One per running daemon.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "proxy/asio.hpp"
#include "proxy/cancel_registry.hpp"
#include "proxy/credentials.hpp"
#include "proxy/pool.hpp"

namespace pgsluice::proxy {

// An immutable config and what is derived from it once.
struct Snapshot {
    explicit Snapshot(std::shared_ptr<const config::Config> c) : config(std::move(c)), credentials(*config) {}
    std::shared_ptr<const config::Config> config;
    Credentials credentials;
};

// What the admin console (RELOAD, SHUTDOWN) and signals may ask of the daemon; run_daemon
// fills these in. Empty until then.
struct Lifecycle {
    // Reloads the config file; false with the errors in `report` when the new one is invalid.
    std::function<bool(std::string& report)> reload;
    // Begins a shutdown (as SIGTERM).
    std::function<void()> shutdown;
};

class ProxyContext {
public:
    ProxyContext(asio::any_io_executor io_executor, std::shared_ptr<const config::Config> config);

    std::shared_ptr<const Snapshot> snapshot() const { return std::atomic_load(&snapshot_); }
    asio::any_io_executor io_executor() const { return io_executor_; }
    CancelRegistry& cancels() { return cancels_; }
    Lifecycle& lifecycle() { return lifecycle_; }

    // The pool for (database, user), created on first use.
    std::shared_ptr<Pool> pool_for(const Snapshot& snapshot, const config::Database& database,
                                   const std::string& user);

    // Counts clients against max_client_conn; false when the process is full.
    bool admit_client(std::uint32_t max_client_conn) {
        auto now = ++clients_;
        if (now > max_client_conn) {
            --clients_;
            return false;
        }
        return true;
    }
    void client_left() { --clients_; }
    // At shutdown, after the worker threads stopped.
    void close_idle_servers();
    // Pool upkeep (idle timeouts, lifetimes, min_pool_size); the daemon calls it every second.
    void maintain_pools();
    std::uint64_t next_client_id() { return ++client_ids_; }

private:
    asio::any_io_executor io_executor_;
    std::shared_ptr<const Snapshot> snapshot_;
    CancelRegistry cancels_;
    Lifecycle lifecycle_;
    std::mutex pools_mutex_;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<Pool>> pools_;
    std::map<std::string, std::shared_ptr<ConnectionBudget>> database_budgets_;  // guarded by pools_mutex_
    std::map<std::string, std::shared_ptr<ConnectionBudget>> user_budgets_;
    std::atomic<std::uint64_t> server_ids_{0};
    std::atomic<std::uint64_t> client_ids_{0};
    std::atomic<std::uint32_t> clients_{0};
};

}  // namespace pgsluice::proxy
