// How many worker threads serve clients: as few as carry the load, every one when it needs them.
//
// On a machine the database shares, a pooler that spreads a light load over every core runs
// each worker out of work more often: each sleep in epoll_wait and each wake-up is a system
// call and a context switch, and a server that serves clients of two workers keeps moving
// between their epoll sets. So clients go to the first few workers only. When one of those
// is busier than `spread_above` (a share of one core), one more worker takes clients; when
// the load would fit on one worker fewer with room to spare, the last one gives its clients
// back. The gap between the two thresholds keeps the count from flapping. Sessions move
// between workers only while they are parked between transactions (ClientSession::park).
#pragma once

#include <span>

namespace pgsluice::proxy {

struct SpreadLimits {
    // A serving worker busier than this (CPU seconds per second) makes one more serve.
    double spread_above = 0.7;
    // The serving workers give one back when their load would keep the others under this.
    double pack_below = 0.5;
};

// `busy`: the CPU share of each serving worker over the last period (its size is how many
// serve now); `total`: how many workers there are. Returns how many serve next: one more,
// one fewer or as many, never 0 and never more than `total`.
unsigned workers_to_serve(std::span<const double> busy, unsigned total, const SpreadLimits& limits);

// The limits for `worker_spread_above` (percent of one core; 0: every worker always serves).
SpreadLimits spread_limits(unsigned spread_above_percent);

}  // namespace pgsluice::proxy
