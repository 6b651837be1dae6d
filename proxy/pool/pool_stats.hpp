// Counters one pool keeps for the metrics endpoint and the admin console's SHOW STATS.
// Plain relaxed atomics: sessions on any thread bump them, readers take a snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace pgsluice::proxy {

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

struct PoolStats {
    using Counter = std::atomic<std::uint64_t>;
    static void add(Counter& counter, std::uint64_t n = 1) { counter.fetch_add(n, std::memory_order_relaxed); }

    // Totals since the pool was created (PgBouncer's SHOW STATS total_* columns).
    Counter transactions{0};
    Counter queries{0};
    Counter bytes_received{0};  // from clients
    Counter bytes_sent{0};      // to clients
    Counter transaction_time_us{0};
    Counter query_time_us{0};
    Counter wait_time_us{0};    // clients waiting for a server
    Counter waits{0};           // times a client asked for a server
    Counter client_logins{0};
    Counter server_connects{0};
    // Errors by kind.
    Counter login_failures{0};
    Counter wait_timeouts{0};
    Counter server_connect_failures{0};
    Counter servers_lost{0};     // a server died or broke the protocol under a client
    Counter client_timeouts{0};  // query_timeout, idle_transaction_timeout, client_idle_timeout
    // A client changed a server's session settings in a way pgsluice does not follow: the
    // server is restored (RESET ALL) before its next client.
    Counter settings_restores{0};

    // Gauges.
    std::atomic<std::int64_t> clients{0};  // logged-in clients routed to this pool

    PoolTotals totals() const {
        auto load = [](const Counter& counter) { return counter.load(std::memory_order_relaxed); };
        return {load(transactions),        load(queries),         load(bytes_received), load(bytes_sent),
                load(transaction_time_us), load(query_time_us),   load(wait_time_us),   load(waits)};
    }
};

}  // namespace pgsluice::proxy
