// prepared::Fifo: first in, first out, whatever the mix of pushes and pops; its storage is
// kept when it empties and does not grow without end when it never does.
#include <catch2/catch.hpp>

#include <string>

#include "proxy/prepared/fifo.hpp"

using pgsluice::proxy::prepared::Fifo;

TEST_CASE("Fifo gives entries back in the order they came", "[prepared][fifo]") {
    Fifo<std::string> fifo;
    CHECK(fifo.empty());
    fifo.push_back("a");
    fifo.push_back("b");
    fifo.push_back("c");
    CHECK(fifo.size() == 3);
    CHECK(fifo.front() == "a");
    CHECK(fifo[2] == "c");
    fifo.pop_front();
    CHECK(fifo.front() == "b");
    fifo.push_back("d");
    fifo.erase_front(2);
    CHECK(fifo.size() == 1);
    CHECK(fifo.front() == "d");
    fifo.pop_front();
    CHECK(fifo.empty());
    fifo.push_back("e");
    CHECK(fifo.front() == "e");
    fifo.clear();
    CHECK(fifo.empty());
}

namespace {
// An entry that counts how many of its kind exist: the Fifo's storage, consumed slots included.
struct Counted {
    static inline int alive = 0;
    int value = 0;
    Counted() { ++alive; }
    explicit Counted(int v) : value(v) { ++alive; }
    Counted(const Counted& other) : value(other.value) { ++alive; }
    Counted(Counted&& other) noexcept : value(other.value) { ++alive; }
    Counted& operator=(const Counted&) = default;
    Counted& operator=(Counted&&) noexcept = default;
    ~Counted() { --alive; }
};
}  // namespace

TEST_CASE("Fifo that never empties keeps its order and drops its consumed front", "[prepared][fifo]") {
    // A server kept busy by a pipeline: its FIFO of expected answers never empties. Without
    // dropping its consumed front, the storage would hold all 20,000 entries ever pushed;
    // its size() would not show it, the count of live entries does.
    {
        Fifo<Counted> fifo;
        int next_in = 0;
        int next_out = 0;
        for (int round = 0; round < 10'000; ++round) {
            fifo.push_back(Counted(next_in++));
            fifo.push_back(Counted(next_in++));
            REQUIRE(fifo.front().value == next_out++);
            fifo.pop_front();
            if (fifo.size() > 3) {  // a backlog of a few entries, never zero
                REQUIRE(fifo.front().value == next_out++);
                fifo.pop_front();
            }
        }
        CHECK(fifo.size() <= 4);
        for (std::size_t i = 0; i < fifo.size(); ++i) CHECK(fifo[i].value == next_out + static_cast<int>(i));
        CHECK(Counted::alive < 300);  // a few hundred slots at most, consumed ones included
    }
    CHECK(Counted::alive == 0);
}
