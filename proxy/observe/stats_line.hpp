// The periodic stats log line, as PgBouncer writes one every stats_period: rates and mean
// times over the last period, summed over every pool. Pure: counters in, text out.
#pragma once

#include <cstdint>
#include <string>

#include "proxy/pool/pool_stats.hpp"

namespace pgsluice::proxy {

// Running totals summed over the pools, plus the gauges of the moment.
struct StatsTotals {
    PoolTotals counters;
    // Gauges, reported as they are at the end of the period.
    std::uint64_t clients = 0;
    std::uint64_t clients_waiting = 0;
    std::uint64_t servers = 0;
    std::uint64_t servers_idle = 0;
};

// "stats: 120 xacts/s, 130 queries/s, in 5400 B/s, out 21000 B/s, xact 830 us, query 610 us,
// wait 12 us; 40 clients (2 waiting), 20 servers (3 idle)". A counter that went down (a
// pool dropped by reload) counts as no activity, never as a negative rate.
std::string stats_line(const StatsTotals& before, const StatsTotals& after, double seconds);

}  // namespace pgsluice::proxy
