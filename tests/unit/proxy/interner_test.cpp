// The interner behind shared client settings and names: clients that ask for the same values
// hold one copy, and a value nobody holds any more is not kept alive.
#include <catch2/catch.hpp>

#include <string>

#include "proxy/runtime/interner.hpp"

using pgsluice::proxy::Interner;

TEST_CASE("equal values share one copy, different ones do not", "[unit][interner]") {
    Interner<std::string> interner;
    auto first = interner.intern(std::make_shared<const std::string>("app"));
    auto second = interner.intern(std::make_shared<const std::string>("app"));
    auto other = interner.intern(std::make_shared<const std::string>("batch"));
    CHECK(first.get() == second.get());
    CHECK(other.get() != first.get());
    CHECK(*other == "batch");
}

TEST_CASE("a value nobody holds is forgotten, not kept alive", "[unit][interner]") {
    Interner<std::string> interner;
    std::weak_ptr<const std::string> gone;
    {
        auto held = interner.intern(std::make_shared<const std::string>("app"));
        gone = held;
    }
    CHECK(gone.expired());
    auto again = interner.intern(std::make_shared<const std::string>("app"));
    CHECK(*again == "app");
}
