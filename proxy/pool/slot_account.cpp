// SlotAccount: pool_size, the reserve pool and the shared caps, counted.
#include "proxy/pool/slot_account.hpp"

#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

SlotAccount::~SlotAccount() {
    // A pool that goes away must not stay on a budget's list of starving pools.
    if (starving_on_) starving_on_->clear_starving(self_);
}

void SlotAccount::share(std::shared_ptr<ConnectionBudget> database, std::shared_ptr<ConnectionBudget> user) {
    database_ = std::move(database);
    user_ = std::move(user);
}

bool SlotAccount::take(const config::PoolSettings& settings, bool with_reserve) {
    if (open_ >= pool_policy::server_cap(settings, with_reserve)) return false;
    if (auto* refused = ConnectionBudget::take(database_.get(), settings.max_db_connections, user_.get(),
                                               settings.max_user_connections)) {
        blocked_by_ = refused;
        return false;
    }
    ++open_;
    return true;
}

void SlotAccount::release() {
    --open_;
    if (database_) database_->release_one();
    if (user_) user_->release_one();
}

void SlotAccount::begin_close(bool donation) {
    ++closing_;
    if (donation) ++donating_;
}

void SlotAccount::end_close(bool donation) {
    release();
    --closing_;
    if (donation) --donating_;
}

void SlotAccount::update_starving(const config::PoolSettings& settings, std::optional<TimePoint> oldest_waiter,
                                  bool reserve_allowed) {
    ConnectionBudget* starving_on = nullptr;
    if (oldest_waiter && blocked_by_ && open_ < pool_policy::server_cap(settings, reserve_allowed))
        starving_on = blocked_by_;
    if (starving_on_ && starving_on_ != starving_on) starving_on_->clear_starving(self_);
    if (starving_on) starving_on->set_starving(self_, *oldest_waiter);  // the front may have changed
    starving_on_ = starving_on;
}

bool SlotAccount::sibling_waited_longer(const config::PoolSettings& settings,
                                        std::optional<TimePoint> own_oldest_waiter) const {
    const std::pair<ConnectionBudget*, std::uint32_t> budgets[] = {{database_.get(), settings.max_db_connections},
                                                                   {user_.get(), settings.max_user_connections}};
    for (auto [budget, limit] : budgets) {
        if (!budget || limit == 0) continue;
        const auto starving = budget->starving_besides(self_);
        if (pool_policy::give_up_for_sibling(own_oldest_waiter, {starving.pools, starving.oldest, limit}, open_,
                                             donating_))
            return true;
    }
    return false;
}

bool SlotAccount::budget_wanted() const {
    return (database_ && database_->has_starving()) || (user_ && user_->has_starving());
}

void SlotAccount::notify_siblings() const {
    for (auto* budget : {database_.get(), user_.get()}) {
        if (!budget || !budget->has_starving()) continue;
        for (auto& member : budget->members())
            if (member.get() != self_) member->on_budget_freed();
    }
}

void SlotAccount::ask_sibling_for_room(ConnectionBudget* budget, const std::string& for_whom) const {
    for (auto& member : budget->members())
        if (member.get() != self_ && member->surrender_idle(for_whom)) return;
}

}  // namespace pgsluice::proxy
