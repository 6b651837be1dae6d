// PoolStats' per-worker shards: bumps from worker threads and from other threads all count,
// and a read sums them.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "proxy/pool/pool_stats.hpp"

using namespace pgsluice::proxy;

TEST_CASE("pool stats: worker threads bump their own shards, other threads a shared one, reads sum them all",
          "[unit][pool]") {
    constexpr unsigned kWorkers = 4;
    constexpr int kBumps = 10000;
    const unsigned first = StatShards::reserve(kWorkers);
    PoolStats stats;  // made after the reservation: a shard for each of those workers
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < kWorkers; ++i)
        threads.emplace_back([&, i] {
            StatShards::enter(first + i);
            for (int n = 0; n < kBumps; ++n) {
                PoolStats::add(stats.queries);
                PoolStats::add(i % 2 ? stats.bytes_received : stats.bytes_sent, 3);
            }
        });
    // Threads that are no worker (or whose worker came after the PoolStats) share shard 0.
    for (int i = 0; i < 2; ++i)
        threads.emplace_back([&] {
            for (int n = 0; n < kBumps; ++n) PoolStats::add(stats.queries);
        });
    threads.emplace_back([&] {
        StatShards::enter(StatShards::reserve(1));  // a shard this PoolStats does not have
        for (int n = 0; n < kBumps; ++n) PoolStats::add(stats.queries);
    });
    for (auto& thread : threads) thread.join();
    CHECK(stats.queries.load() == (kWorkers + 3) * kBumps);
    CHECK(stats.bytes_received.load() == 2 * kBumps * 3);
    CHECK(stats.bytes_sent.load() == 2 * kBumps * 3);
    const auto totals = stats.totals();
    CHECK(totals.queries == (kWorkers + 3) * kBumps);
    CHECK(totals.bytes_received + totals.bytes_sent == kWorkers * kBumps * 3);
    CHECK(totals.transactions == 0);
}
