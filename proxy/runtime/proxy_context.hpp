// What every session shares: the current config snapshot with its credentials, the pools,
// the cancel keys, and process-wide counters. One per running daemon.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>
#include <string>
#include <vector>

#include "config/access_rules.hpp"
#include "config/config.hpp"
#include "proxy/asio.hpp"
#include "proxy/auth/auth_query.hpp"
#include "proxy/auth/login_failures.hpp"
#include "proxy/session/cancel_registry.hpp"
#include "proxy/session/client_registry.hpp"
#include "proxy/backend/credentials.hpp"
#include "proxy/pool/pool.hpp"
#include "proxy/prepared/statement_key.hpp"
#include "proxy/backend/session_settings.hpp"
#include "proxy/observe/stats_line.hpp"
#include "proxy/tls/tls_contexts.hpp"
#include "proxy/runtime/workers.hpp"

namespace pgsluice::proxy {

// An immutable config and what is derived from it once.
struct Snapshot {
    // `t`: the config's TLS contexts, loaded already (tls::TlsContexts::load); null loads
    // them here and throws std::runtime_error naming every file that failed.
    explicit Snapshot(std::shared_ptr<const config::Config> c, std::shared_ptr<const tls::TlsContexts> t = nullptr);
    std::shared_ptr<const config::Config> config;
    Credentials credentials;
    config::AccessRules access_rules;         // the config's hba list, parsed
    std::shared_ptr<const tls::TlsContexts> tls;  // never null
};

// The database's server logged in to as its auth_user (with its configured plaintext
// password, if any), with the server-side TLS and login settings the pools use: what
// auth_query runs on.
ServerTarget auth_user_target(const Snapshot& snapshot, const config::Database& database);

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
    // `workers` outlives the context. `tls` as for Snapshot (null: loaded here, may throw).
    ProxyContext(Workers& workers, std::shared_ptr<const config::Config> config,
                 std::shared_ptr<const tls::TlsContexts> tls = nullptr);

    std::shared_ptr<const Snapshot> snapshot() const { return std::atomic_load(&snapshot_); }
    Workers& workers() { return workers_; }
    ClientRegistry& clients() { return clients_registry_; }
    Lifecycle& lifecycle() { return lifecycle_; }
    SettingsInterner& settings_interner() { return settings_interner_; }
    // The texts of prepared statements, one copy each however many clients prepare them.
    prepared::StatementKeyInterner& statement_keys() { return statement_keys_; }
    Interner<ClientNames>& names_interner() { return names_interner_; }
    LoginFailures& login_failures() { return login_failures_; }
    AuthQueryCache& auth_query_cache() { return auth_query_cache_; }

    // The pool for (database, user), created on first use. `looked_up_server_key`: the
    // ServerKey of the verifier auth_query found for a user the config does not list, so the
    // pool can log in with the key its client proves.
    std::shared_ptr<Pool> pool_for(const Snapshot& snapshot, const config::Database& database,
                                   const std::string& user,
                                   std::optional<protocol::scram::Key> looked_up_server_key = std::nullopt);
    // The pool for (database, user) if one was created; never creates one.
    std::shared_ptr<Pool> find_pool(const std::string& database, const std::string& user);
    // Counters of clients that never reached a pool: an unknown database, or a failed login
    // before its (database, user) had a pool. Only a few fields are used.
    PoolStats& unrouted_stats() { return unrouted_stats_; }

    // Reload: swaps in a new, already validated config and brings existing pools up to date
    // (sizes, modes, timeouts; a changed address or login makes their servers reconnect).
    // `tls`: the new config's TLS contexts, loaded by the caller so that a file that fails
    // fails the reload before anything is swapped (null: loaded here, may throw).
    void replace_config(std::shared_ptr<const config::Config> config,
                        std::shared_ptr<const tls::TlsContexts> tls = nullptr);

    // Shutdown drain: once set, sessions end at their next transaction start (transaction
    // and statement mode) or their next idle point (session mode) with 57P01.
    void begin_drain() { draining_ = true; }
    bool draining() const { return draining_; }
    // Sessions whose server is inside a transaction or running a query right now; the
    // drain waits for this to reach zero.
    std::atomic<std::int64_t>& busy_sessions() { return busy_sessions_; }

    // The end of a drain: every logged-in session's wait for its client is interrupted
    // (through the client registry), and a session that was not waiting sees drain_ended()
    // before its next wait, so that each client hears 57P01 before the process exits.
    std::size_t wake_idle_clients();  // returns how many sessions were interrupted
    bool drain_ended() const { return drain_ended_.load(); }
    std::size_t sessions_left() { return clients_registry_.size(); }

    // Config reloads by result, for the metrics endpoint and logs.
    std::atomic<std::uint64_t> reloads_ok{0};
    std::atomic<std::uint64_t> reloads_failed{0};

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
    // Every pool's counters and gauges summed, for the periodic stats line.
    StatsTotals stats_totals();
    std::uint64_t next_client_id() { return ++client_ids_; }

    // For the admin console: the pools that exist now (of one database, or all when empty),
    // and PAUSE state that also holds for pools created later.
    std::vector<std::shared_ptr<Pool>> pools(const std::string& database = {});
    void set_paused(const std::string& database, bool paused);  // empty: every database
    bool is_paused(const std::string& database);
    std::uint32_t admitted_clients() const { return clients_.load(); }

private:
    Workers& workers_;
    std::shared_ptr<const Snapshot> snapshot_;
    Lifecycle lifecycle_;
    SettingsInterner settings_interner_;
    prepared::StatementKeyInterner statement_keys_;
    Interner<ClientNames> names_interner_;
    std::mutex pools_mutex_;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<Pool>> pools_;
    std::map<std::string, std::shared_ptr<ConnectionBudget>> database_budgets_;  // guarded by pools_mutex_
    std::map<std::string, std::shared_ptr<ConnectionBudget>> user_budgets_;
    std::atomic<std::uint64_t> server_ids_{0};
    std::atomic<std::uint64_t> client_ids_{0};
    std::atomic<std::uint32_t> clients_{0};
    PoolStats unrouted_stats_;
    LoginFailures login_failures_;
    AuthQueryCache auth_query_cache_;
    ClientRegistry clients_registry_;
    bool all_paused_ = false;               // guarded by pools_mutex_
    std::set<std::string> paused_databases_;  // guarded by pools_mutex_
    std::atomic<bool> draining_{false};
    std::atomic<bool> drain_ended_{false};
    std::atomic<std::int64_t> busy_sessions_{0};
};

}  // namespace pgsluice::proxy
