// A count of server connections shared by several pools: one budget per database
// (max_db_connections) and one per user (max_user_connections), so the caps hold across
// pools and worker threads. Its lock is short and is only ever taken after a pool's lock,
// never before one: a budget never calls into a pool while it holds its own lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgsluice::proxy {

// What a budget asks of the pools that share it (Pool implements it).
class BudgetMember {
public:
    virtual ~BudgetMember() = default;
    // Capacity came free: grant it to waiters this budget was blocking, if any.
    virtual void on_budget_freed() = 0;
    // A sibling is starved by the budget: close one idle server if there is one (true if so).
    virtual bool surrender_idle(const std::string& for_whom) = 0;
};

class ConnectionBudget {
public:
    explicit ConnectionBudget(std::string name) : name_(std::move(name)) {}

    // Takes one connection from each budget given (either may be null) if every one has room
    // under its limit (0: no limit), all or nothing. Returns nullptr on success, otherwise
    // the budget that refused; nothing is taken then.
    static ConnectionBudget* take(ConnectionBudget* database, std::uint32_t database_limit, ConnectionBudget* user,
                                  std::uint32_t user_limit);
    void release_one();  // one connection fewer counted against the cap

    void join(std::weak_ptr<BudgetMember> member);
    // The pools sharing this budget right now (a copy: call into them without any lock held).
    std::vector<std::shared_ptr<BudgetMember>> members();

    // Pools with waiters this budget blocks, with the time their oldest waiter arrived.
    // While there are any, siblings close idle servers rather than keep them, and a sibling
    // whose own waiters arrived later gives its released server up too (FIFO across pools).
    using TimePoint = std::chrono::steady_clock::time_point;
    void set_starving(const BudgetMember* member, TimePoint oldest_waiter_since);
    void clear_starving(const BudgetMember* member);
    // Without the lock: a pool releasing a server asks this at every transaction, and almost
    // always nobody starves. A pool that starts starving a moment later is seen by its
    // siblings at their next release, or asks them itself (Pool::maintain).
    bool has_starving() const { return starving_count_.load(std::memory_order_relaxed) > 0; }
    struct Starving {
        std::size_t pools = 0;                 // starving pools other than the one asking
        TimePoint oldest = TimePoint::max();   // when their oldest waiter arrived
    };
    Starving starving_besides(const BudgetMember* asking);

    std::uint32_t used();
    const std::string& name() const { return name_; }

private:
    const std::string name_;  // "database app", "user app": for logs
    std::mutex mutex_;
    std::uint32_t used_ = 0;
    std::map<const BudgetMember*, TimePoint> starving_;
    std::atomic<std::size_t> starving_count_{0};  // starving_.size(), written under mutex_
    std::vector<std::weak_ptr<BudgetMember>> members_;
};

}  // namespace pgsluice::proxy
