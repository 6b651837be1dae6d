// Counters one pool keeps for the metrics endpoint, the admin console's SHOW STATS and the
// stats line. Every worker bumps them on every query, so each worker thread has its own
// shard of them (a cache-line aligned block): a bump is a plain load and store on a line no
// other core writes, and only a reader (a scrape, SHOW STATS, the stats line) sums the
// shards. Threads that are not workers share shard 0, with atomic adds.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace pgsluice::proxy {

// Which shard of every PoolStats the calling thread writes.
class StatShards {
public:
    // Called once per Workers, before any of its threads runs: `workers` shards, the first
    // one's index returned. Indices are never reused, so no two threads ever share a shard.
    static unsigned reserve(unsigned workers) { return 1 + next_.fetch_add(workers, std::memory_order_relaxed); }
    // Called by a worker thread as it starts: the index reserve() gave it.
    static void enter(unsigned shard) { this_thread_ = shard; }
    static unsigned of_this_thread() { return this_thread_; }
    // How many shards a PoolStats made now needs to cover every worker reserved so far.
    static unsigned count() { return 1 + next_.load(std::memory_order_relaxed); }

private:
    static inline std::atomic<unsigned> next_{0};
    static inline constinit thread_local unsigned this_thread_ = 0;
};

// The counters of one or more pools at one moment, as plain numbers: what the stats line
// and SHOW STATS sum over pools.
struct PoolTotals {
    std::uint64_t transactions = 0;
    std::uint64_t queries = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t transaction_time_us = 0;
    std::uint64_t query_time_us = 0;
    std::uint64_t wait_time_us = 0;
    std::uint64_t waits = 0;  // times a client asked for a server (wait_time_us's divisor)

    PoolTotals& operator+=(const PoolTotals& other) {
        transactions += other.transactions;
        queries += other.queries;
        bytes_received += other.bytes_received;
        bytes_sent += other.bytes_sent;
        transaction_time_us += other.transaction_time_us;
        query_time_us += other.query_time_us;
        wait_time_us += other.wait_time_us;
        waits += other.waits;
        return *this;
    }
};

class PoolStats {
    static constexpr unsigned kCounters = 19;
    struct alignas(64) Shard {
        std::atomic<std::uint64_t> cells[kCounters] = {};
    };

public:
    // One counter: a name for one cell of every shard. Bumped with PoolStats::add, read
    // (summed over the shards) with load().
    class Counter {
    public:
        Counter(const Counter&) = delete;
        Counter& operator=(const Counter&) = delete;
        std::uint64_t load(std::memory_order = std::memory_order_relaxed) const {
            std::uint64_t sum = 0;
            for (unsigned i = 0; i < owner_->shard_count_; ++i)
                sum += owner_->shards_[i].cells[index_].load(std::memory_order_relaxed);
            return sum;
        }

    private:
        friend class PoolStats;
        Counter(PoolStats* owner, unsigned index) : owner_(owner), index_(index) {}
        PoolStats* const owner_;
        const unsigned index_;
    };

    static void add(const Counter& counter, std::uint64_t n = 1) {
        PoolStats& stats = *counter.owner_;
        const unsigned shard = StatShards::of_this_thread();
        if (shard != 0 && shard < stats.shard_count_) {
            // Only this thread writes this cell: no read-modify-write needed.
            auto& cell = stats.shards_[shard].cells[counter.index_];
            cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        } else {
            stats.shards_[0].cells[counter.index_].fetch_add(n, std::memory_order_relaxed);
        }
    }

    PoolStats() : shard_count_(StatShards::count()), shards_(std::make_unique<Shard[]>(shard_count_)) {}
    PoolStats(const PoolStats&) = delete;
    PoolStats& operator=(const PoolStats&) = delete;

private:
    // Before the counters: they point into it.
    const unsigned shard_count_;
    const std::unique_ptr<Shard[]> shards_;

public:
    // Totals since the pool was created (PgBouncer's SHOW STATS total_* columns).
    const Counter transactions{this, 0};
    const Counter queries{this, 1};
    const Counter bytes_received{this, 2};  // from clients
    const Counter bytes_sent{this, 3};      // to clients
    const Counter transaction_time_us{this, 4};
    const Counter query_time_us{this, 5};
    const Counter wait_time_us{this, 6};    // clients waiting for a server
    const Counter waits{this, 7};           // times a client asked for a server
    const Counter client_logins{this, 8};
    const Counter server_connects{this, 9};
    // Errors by kind.
    const Counter login_failures{this, 10};
    const Counter wait_timeouts{this, 11};
    const Counter server_connect_failures{this, 12};
    const Counter servers_lost{this, 13};     // a server died or broke the protocol under a client
    const Counter client_timeouts{this, 14};  // query_timeout, idle_transaction_timeout, client_idle_timeout
    // A client changed a server's session settings in a way pgsluice does not follow: the
    // server is restored (RESET ALL) before its next client.
    const Counter settings_restores{this, 15};
    // Named prepared statements (transaction and statement mode): Parses pgsluice sent to
    // servers, and client statements a server had already (hits) or had to prepare (misses).
    const Counter prepared_parses{this, 16};
    const Counter prepared_hits{this, 17};
    const Counter prepared_misses{this, 18};

    // Gauges: changed at login and logout only, so one shared atomic.
    std::atomic<std::int64_t> clients{0};  // logged-in clients routed to this pool

    PoolTotals totals() const {
        return {transactions.load(),        queries.load(),       bytes_received.load(), bytes_sent.load(),
                transaction_time_us.load(), query_time_us.load(), wait_time_us.load(),   waits.load()};
    }
};

}  // namespace pgsluice::proxy
