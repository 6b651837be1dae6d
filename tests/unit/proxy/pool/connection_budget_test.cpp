// ConnectionBudget: the shared counts behind max_db_connections and max_user_connections.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/pool/connection_budget.hpp"

using pgsluice::proxy::ConnectionBudget;

TEST_CASE("a budget refuses beyond its limit and has room again after a release_one", "[budget]") {
    ConnectionBudget database("database app");
    CHECK(ConnectionBudget::take(&database, 2, nullptr, 0) == nullptr);
    CHECK(ConnectionBudget::take(&database, 2, nullptr, 0) == nullptr);
    CHECK(ConnectionBudget::take(&database, 2, nullptr, 0) == &database);
    CHECK(database.used() == 2);
    database.release_one();
    CHECK(ConnectionBudget::take(&database, 2, nullptr, 0) == nullptr);
}

TEST_CASE("limit 0 means no cap, and the count still follows", "[budget]") {
    ConnectionBudget user("user app");
    for (int i = 0; i < 100; ++i) REQUIRE(ConnectionBudget::take(nullptr, 0, &user, 0) == nullptr);
    CHECK(user.used() == 100);
}

TEST_CASE("a pair of budgets is taken all or nothing, and names the one that refused", "[budget]") {
    ConnectionBudget database("database app");
    ConnectionBudget user("user app");
    CHECK(ConnectionBudget::take(&database, 5, &user, 1) == nullptr);
    CHECK(ConnectionBudget::take(&database, 5, &user, 1) == &user);
    CHECK(database.used() == 1);  // the refusal by the user budget took nothing from the database's
    CHECK(ConnectionBudget::take(&database, 1, &user, 5) == &database);
    CHECK(user.used() == 1);
}

TEST_CASE("concurrent takers never exceed the limit", "[budget]") {
    ConnectionBudget database("database app");
    std::atomic<int> held{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                if (ConnectionBudget::take(&database, 3, nullptr, 0) != nullptr) continue;
                const int now = ++held;
                if (now > most) most = now;
                --held;
                database.release_one();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(most <= 3);
    CHECK(database.used() == 0);
}
