// Pool: construction, settings, reload (update, retarget), and what the shared budgets ask.
#include "proxy/pool/pool.hpp"

#include <spdlog/spdlog.h>

#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

Pool::Pool(std::string database, std::string user, ServerTarget target, config::PoolSettings settings,
           Executor io_executor, std::atomic<std::uint64_t>& server_ids)
    : database_(std::move(database)),
      user_(std::move(user)),
      settings_(std::move(settings)),
      io_executor_(std::move(io_executor)),
      server_ids_(server_ids),
      target_(std::move(target)) {
    publish_lock_free_settings_locked();  // nobody else sees the pool yet
}

Pool::~Pool() = default;

void Pool::share_budgets(std::shared_ptr<ConnectionBudget> database, std::shared_ptr<ConnectionBudget> user) {
    if (database) database->join(weak_from_this());
    if (user) user->join(weak_from_this());
    std::lock_guard lock(mutex_);
    slots_.share(std::move(database), std::move(user));
}

void Pool::remember_client_key(const protocol::scram::Key& client_key) {
    std::lock_guard lock(mutex_);
    if (!target_.client_key) target_.client_key = client_key;
}

config::PoolSettings Pool::settings() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

SilenceLimits Pool::traffic_limits() const {
    return {Duration(query_timeout_ms_.load(std::memory_order_relaxed)),
            Duration(idle_transaction_timeout_ms_.load(std::memory_order_relaxed)),
            Duration(client_idle_timeout_ms_.load(std::memory_order_relaxed))};
}

Pool::PreparedLimits Pool::prepared_limits() const {
    return {max_prepared_statements_.load(std::memory_order_relaxed),
            max_client_prepared_statements_.load(std::memory_order_relaxed)};
}

void Pool::publish_lock_free_settings_locked() {
    query_timeout_ms_.store(settings_.query_timeout.count(), std::memory_order_relaxed);
    idle_transaction_timeout_ms_.store(settings_.idle_transaction_timeout.count(), std::memory_order_relaxed);
    client_idle_timeout_ms_.store(settings_.client_idle_timeout.count(), std::memory_order_relaxed);
    max_prepared_statements_.store(settings_.max_prepared_statements, std::memory_order_relaxed);
    max_client_prepared_statements_.store(settings_.max_client_prepared_statements, std::memory_order_relaxed);
}

void Pool::update(const config::PoolSettings& settings) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        settings_ = settings;
        publish_lock_free_settings_locked();
        // Shrinking: idle servers go first (oldest first); busy ones are closed as they come back.
        auto excess = pool_policy::idle_to_close_on_shrink(slots_.not_closing(),
                                                           static_cast<std::uint32_t>(idle_.size()), settings_);
        for (; excess > 0; --excess) {
            to_close.push_back(std::move(idle_.front()));
            idle_.pop_front();
        }
        grant_waiters_locked();  // growing: waiters may open servers now
        // New deadlines (query_wait_timeout, reserve_pool_timeout) for those still waiting.
        if (!waiters_.empty()) arm_wait_timer_locked();
    }
    retire_all(to_close, to_string(CloseReason::pool_shrunk));
}

void Pool::retarget(ServerTarget target) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        // A ClientKey proven against the old verifier is useless with a new one.
        if (target.server_key == target_.server_key) target.client_key = target_.client_key;
        const bool same = same_login(target, target_);
        target_ = std::move(target);
        if (same) return;
        ++target_generation_;
        close_old_idle_locked(to_close);
    }
    retire_all(to_close, to_string(CloseReason::target_changed));
}

Pool::Counts Pool::counts() {
    std::lock_guard lock(mutex_);
    Counts counts;
    counts.open = slots_.open();
    counts.idle = static_cast<std::uint32_t>(idle_.size());
    counts.waiting = static_cast<std::uint32_t>(waiters_.size());
    counts.connecting = connecting_;
    const auto now = Clock::now();
    for (const auto& server : idle_)
        counts.idle_unchecked += pool_policy::past_check_delay({server->created_at(), server->released_at()}, now, settings_);
    if (const auto oldest = waiters_.oldest_since())
        counts.longest_wait = std::chrono::duration_cast<std::chrono::microseconds>(now - *oldest);
    return counts;
}

// ---- BudgetMember: what sibling pools under a shared cap ask of this one ----

void Pool::on_budget_freed() {
    std::lock_guard lock(mutex_);
    grant_waiters_locked();
}

bool Pool::surrender_idle(const std::string& for_whom) {
    std::unique_ptr<ServerConnection> server;
    {
        std::lock_guard lock(mutex_);
        if (idle_.empty()) return false;
        server = std::move(idle_.front());  // the oldest
        idle_.pop_front();
    }
    retire(std::move(server), "idle, making room for " + for_whom, true);
    return true;
}

}  // namespace pgsluice::proxy
