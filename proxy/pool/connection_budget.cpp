// ConnectionBudget: the shared counts behind max_db_connections and max_user_connections.
#include "proxy/pool/connection_budget.hpp"

#include <algorithm>

namespace pgsluice::proxy {

namespace {
bool has_room(std::uint32_t used, std::uint32_t limit) { return limit == 0 || used < limit; }
}  // namespace

ConnectionBudget* ConnectionBudget::take(ConnectionBudget* database, std::uint32_t database_limit,
                                         ConnectionBudget* user, std::uint32_t user_limit) {
    if (database && user) {
        // Both or neither: a half-taken pair would let a refused pool hold capacity it cannot use.
        std::scoped_lock lock(database->mutex_, user->mutex_);
        if (!has_room(database->used_, database_limit)) return database;
        if (!has_room(user->used_, user_limit)) return user;
        ++database->used_;
        ++user->used_;
        return nullptr;
    }
    for (auto [budget, limit] : {std::pair{database, database_limit}, std::pair{user, user_limit}}) {
        if (!budget) continue;
        std::lock_guard lock(budget->mutex_);
        if (!has_room(budget->used_, limit)) return budget;
        ++budget->used_;
    }
    return nullptr;
}

void ConnectionBudget::release_one() {
    std::lock_guard lock(mutex_);
    if (used_ > 0) --used_;
}

void ConnectionBudget::join(std::weak_ptr<BudgetMember> member) {
    std::lock_guard lock(mutex_);
    std::erase_if(members_, [](const auto& m) { return m.expired(); });
    members_.push_back(std::move(member));
}

std::vector<std::shared_ptr<BudgetMember>> ConnectionBudget::members() {
    std::vector<std::shared_ptr<BudgetMember>> alive;
    std::lock_guard lock(mutex_);
    alive.reserve(members_.size());
    for (auto& member : members_)
        if (auto m = member.lock()) alive.push_back(std::move(m));
    return alive;
}

void ConnectionBudget::set_starving(const BudgetMember* member, TimePoint oldest_waiter_since) {
    std::lock_guard lock(mutex_);
    starving_[member] = oldest_waiter_since;
    starving_count_.store(starving_.size(), std::memory_order_relaxed);
}

void ConnectionBudget::clear_starving(const BudgetMember* member) {
    std::lock_guard lock(mutex_);
    starving_.erase(member);
    starving_count_.store(starving_.size(), std::memory_order_relaxed);
}

ConnectionBudget::Starving ConnectionBudget::starving_besides(const BudgetMember* asking) {
    if (!has_starving()) return {};
    std::lock_guard lock(mutex_);
    Starving result;
    for (const auto& [member, since] : starving_) {
        if (member == asking) continue;
        ++result.pools;
        result.oldest = std::min(result.oldest, since);
    }
    return result;
}

std::uint32_t ConnectionBudget::used() {
    std::lock_guard lock(mutex_);
    return used_;
}

}  // namespace pgsluice::proxy
