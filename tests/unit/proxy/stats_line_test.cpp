#include <catch2/catch.hpp>

#include "proxy/observe/stats_line.hpp"

using namespace pgsluice::proxy;

TEST_CASE("the stats line gives rates over the period and mean times per transaction and query", "[unit][stats]") {
    StatsTotals before{.counters = {.transactions = 100, .queries = 200, .bytes_received = 1000, .bytes_sent = 4000,
                                    .transaction_time_us = 50'000, .query_time_us = 60'000, .wait_time_us = 1'000,
                                    .waits = 10}};
    StatsTotals after = before;
    after.counters += {.transactions = 600,         // 60/s over 10 s
                       .queries = 1200,             // 120/s
                       .bytes_received = 50'000,    // 5000 B/s
                       .bytes_sent = 200'000,       // 20000 B/s
                       .transaction_time_us = 600 * 800,
                       .query_time_us = 1200 * 300,
                       .wait_time_us = 600 * 15,
                       .waits = 600};
    after.clients = 40;
    after.clients_waiting = 2;
    after.servers = 20;
    after.servers_idle = 3;
    CHECK(stats_line(before, after, 10.0) ==
          "stats: 60 xacts/s, 120 queries/s, in 5000 B/s, out 20000 B/s, xact 800 us, query 300 us, wait 15 us; "
          "40 clients (2 waiting), 20 servers (3 idle)");
}

TEST_CASE("a quiet period shows zeros, and counters that went down (a pool dropped) never go negative", "[unit][stats]") {
    StatsTotals before{.counters = {.transactions = 100, .queries = 200, .bytes_received = 1000}};
    StatsTotals after{.counters = {.transactions = 40, .queries = 200, .bytes_received = 500}};
    CHECK(stats_line(before, after, 60.0) ==
          "stats: 0 xacts/s, 0 queries/s, in 0 B/s, out 0 B/s, xact 0 us, query 0 us, wait 0 us; "
          "0 clients (0 waiting), 0 servers (0 idle)");
}
