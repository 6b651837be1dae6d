// SlotAccount without a socket: pool_size and the reserve pool, the shared caps all or
// nothing, closing servers keeping their slots, and starving pools under a shared cap.
#include <catch2/catch.hpp>

#include <memory>

#include "proxy/pool/slot_account.hpp"

using namespace pgsluice::proxy;
using namespace std::chrono_literals;
namespace config = pgsluice::config;

namespace {

struct NoMember : BudgetMember {
    void on_budget_freed() override {}
    bool surrender_idle(const std::string&) override { return false; }
};

config::PoolSettings settings_with(std::uint32_t pool_size, std::uint32_t reserve = 0, std::uint32_t max_db = 0) {
    config::PoolSettings settings;
    settings.pool_size = pool_size;
    settings.reserve_pool_size = reserve;
    settings.max_db_connections = max_db;
    return settings;
}

const auto t0 = std::chrono::steady_clock::time_point() + 1h;

}  // namespace

TEST_CASE("pool slots: pool_size bounds the slots, the reserve adds to it only when asked", "[unit][pool]") {
    NoMember pool;
    SlotAccount slots(&pool);
    const auto settings = settings_with(2, 1);
    CHECK(slots.take(settings, false));
    CHECK(slots.take(settings, false));
    CHECK_FALSE(slots.take(settings, false));
    CHECK(slots.take(settings, true));
    CHECK_FALSE(slots.take(settings, true));
    CHECK(slots.open() == 3);
    CHECK(slots.blocked_by() == nullptr);  // the pool's own bound, no budget
    slots.release();
    CHECK(slots.open() == 2);
}

TEST_CASE("pool slots: a server closing keeps its slot, in the pool and the shared cap, until it is gone",
          "[unit][pool]") {
    NoMember pool;
    SlotAccount slots(&pool);
    auto database = std::make_shared<ConnectionBudget>("database app");
    slots.share(database, nullptr);
    const auto settings = settings_with(2, 0, 2);
    REQUIRE(slots.take(settings, false));
    REQUIRE(slots.take(settings, false));
    slots.begin_close(false);
    CHECK(slots.open() == 2);
    CHECK(slots.not_closing() == 1);
    CHECK(database->used() == 2);
    CHECK_FALSE(slots.take(settings, false));
    slots.end_close(false);
    CHECK(slots.open() == 1);
    CHECK(database->used() == 1);
    CHECK(slots.take(settings, false));
}

TEST_CASE("pool slots: max_db_connections holds across pools, and the one held back counts itself starving",
          "[unit][pool]") {
    NoMember first_pool, second_pool;
    SlotAccount first(&first_pool), second(&second_pool);
    auto database = std::make_shared<ConnectionBudget>("database app");
    first.share(database, nullptr);
    second.share(database, nullptr);
    const auto settings = settings_with(5, 0, 3);
    for (int i = 0; i < 3; ++i) REQUIRE(first.take(settings, false));
    CHECK_FALSE(second.take(settings, false));
    CHECK(second.blocked_by() == database.get());
    CHECK(second.blocked_by_database());
    CHECK_FALSE(second.blocked_by_user());

    // A waiter in the second pool, below its own pool_size: starving on the database's cap.
    second.update_starving(settings, t0, false);
    CHECK(second.starving_on() == database.get());
    CHECK(database->has_starving());
    CHECK(first.budget_wanted());
    // The first pool, with nobody waiting, gives its next released server up.
    CHECK(first.sibling_waited_longer(settings, std::nullopt));
    // With a client of its own that waited longer, it keeps it.
    CHECK_FALSE(first.sibling_waited_longer(settings, t0 - 1s));

    // Nobody waits any more: no longer starving.
    second.update_starving(settings, std::nullopt, false);
    CHECK(second.starving_on() == nullptr);
    CHECK_FALSE(database->has_starving());
    CHECK_FALSE(first.sibling_waited_longer(settings, std::nullopt));
}

TEST_CASE("pool slots: a pool at its own pool_size is not starving, whatever the shared cap says", "[unit][pool]") {
    NoMember pool;
    SlotAccount slots(&pool);
    auto database = std::make_shared<ConnectionBudget>("database app");
    slots.share(database, nullptr);
    auto settings = settings_with(1, 1, 1);
    REQUIRE(slots.take(settings, false));
    CHECK_FALSE(slots.take(settings, true));  // refused by the cap, at 1 of 1
    slots.update_starving(settings, t0, false);
    CHECK(slots.starving_on() == nullptr);  // its own bound holds it, not the cap
    slots.update_starving(settings, t0, true);  // counting the reserve, the cap is what holds it
    CHECK(slots.starving_on() == database.get());
}

TEST_CASE("pool slots: a pool that goes away leaves the budget's list of starving pools", "[unit][pool]") {
    auto database = std::make_shared<ConnectionBudget>("database app");
    {
        NoMember pool;
        SlotAccount slots(&pool);
        slots.share(database, nullptr);
        const auto settings = settings_with(2, 0, 1);
        CHECK(ConnectionBudget::take(database.get(), 1, nullptr, 0) == nullptr);  // another pool holds the cap
        CHECK_FALSE(slots.take(settings, false));
        slots.update_starving(settings, t0, false);
        CHECK(database->has_starving());
    }
    CHECK_FALSE(database->has_starving());
}
