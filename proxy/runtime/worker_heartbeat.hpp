// Whether every worker thread still runs its handlers. /healthz asks this, so a wedged worker
// (a handler stuck in a blocking call, a lock that is never released) turns the process
// unhealthy even though the metrics thread, which answers the probe, is fine.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy/runtime/workers.hpp"

namespace pgsluice::proxy {

class WorkerHeartbeats {
public:
    static constexpr std::chrono::milliseconds kPeriod{250};
    // Eight missed beats: long enough that a busy worker (a burst of logins, a 50 ms
    // malloc_trim) never looks dead, short enough for a load balancer to act in seconds.
    static constexpr std::chrono::milliseconds kStaleAfter{2000};

    // Starts one timer per worker, on that worker's own io_context, stamping its beat every
    // kPeriod. The timers end with the io_contexts; the returned object may outlive them.
    static std::shared_ptr<WorkerHeartbeats> start(Workers& workers);

    // "" when every worker beat within kStaleAfter; else which did not and for how long, e.g.
    // "worker 1: no heartbeat for 2250 ms".
    std::string stale_workers() const;

    explicit WorkerHeartbeats(std::size_t workers);

private:
    void beat(std::size_t worker);

    // steady_clock ticks of each worker's last beat
    std::unique_ptr<std::atomic<std::int64_t>[]> beats_;
    std::size_t count_;
};

}  // namespace pgsluice::proxy
