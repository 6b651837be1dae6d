// A pool's count of the servers it has open (its slots), and the shared budgets each slot is
// also counted in (max_db_connections, max_user_connections). Socket-free: the Pool calls it
// under its own mutex, and the unit tests drive it with nothing but ConnectionBudgets.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "proxy/pool/connection_budget.hpp"

namespace pgsluice::proxy {

class SlotAccount {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    // `self`: the pool, as the budgets know it (its entry in their lists of starving pools).
    explicit SlotAccount(const BudgetMember* self) : self_(self) {}
    ~SlotAccount();
    SlotAccount(const SlotAccount&) = delete;
    SlotAccount& operator=(const SlotAccount&) = delete;

    // Set once, before the pool is used; either may be null.
    void share(std::shared_ptr<ConnectionBudget> database, std::shared_ptr<ConnectionBudget> user);

    // One slot, if the pool is below pool_size (plus reserve_pool_size `with_reserve`) and
    // both budgets have room, all or nothing. A budget that refuses is remembered (blocked_by).
    bool take(const config::PoolSettings& settings, bool with_reserve);
    // One slot fewer, in the pool and in both budgets.
    void release();

    // A server being closed keeps its slot until PostgreSQL has let its backend go (so that
    // a shared cap holds as pg_stat_activity sees it). `donation`: closed to make room for a
    // sibling pool.
    void begin_close(bool donation);
    void end_close(bool donation);  // the slot is released too

    std::uint32_t open() const { return open_; }                  // idle + in use + connecting + closing
    std::uint32_t not_closing() const { return open_ - closing_; }
    std::uint32_t closing() const { return closing_; }
    std::uint32_t donating() const { return donating_; }
    ConnectionBudget* blocked_by() const { return blocked_by_; }   // the budget that refused the last slot
    bool blocked_by_database() const { return blocked_by_ && blocked_by_ == database_.get(); }
    bool blocked_by_user() const { return blocked_by_ && blocked_by_ == user_.get(); }

    // Waiters while the pool itself has room means a shared budget holds them back: say so
    // to that budget, whose other pools then give up idle servers instead of keeping them.
    // `oldest_waiter`: when the pool's first waiter arrived (none: nobody waits);
    // `reserve_allowed`: whether that waiter may count the reserve pool in.
    void update_starving(const config::PoolSettings& settings, std::optional<TimePoint> oldest_waiter,
                         bool reserve_allowed);
    ConnectionBudget* starving_on() const { return starving_on_; }
    // Whether a released server should go to a sibling pool instead (pool_policy::give_up_for_sibling).
    bool sibling_waited_longer(const config::PoolSettings& settings, std::optional<TimePoint> own_oldest_waiter) const;
    // Whether a sibling pool waits for either budget (then maintenance opens nothing).
    bool budget_wanted() const;

    // Without the pool's lock (they call into sibling pools):
    // after a slot was released, let starved siblings use it;
    void notify_siblings() const;
    // after a waiter was blocked by `budget`, ask a sibling to close an idle server.
    void ask_sibling_for_room(ConnectionBudget* budget, const std::string& for_whom) const;

private:
    const BudgetMember* const self_;
    std::shared_ptr<ConnectionBudget> database_;  // set once by share()
    std::shared_ptr<ConnectionBudget> user_;
    std::uint32_t open_ = 0;
    std::uint32_t closing_ = 0;   // counted in open_: Terminate sent, waiting for the backend to go
    std::uint32_t donating_ = 0;  // of closing_: closing to make room for a sibling pool
    ConnectionBudget* blocked_by_ = nullptr;
    ConnectionBudget* starving_on_ = nullptr;  // where this pool counts itself starved
};

}  // namespace pgsluice::proxy
