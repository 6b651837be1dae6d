#include "proxy/runtime/worker_spread.hpp"

#include <algorithm>
#include <numeric>

namespace pgsluice::proxy {

unsigned workers_to_serve(std::span<const double> busy, unsigned total, const SpreadLimits& limits) {
    total = std::max(1u, total);
    const auto serving = std::clamp(static_cast<unsigned>(busy.size()), 1u, total);
    if (limits.spread_above <= 0) return total;
    const bool one_too_busy =
        std::any_of(busy.begin(), busy.end(), [&](double share) { return share > limits.spread_above; });
    if (one_too_busy) return std::min(serving + 1, total);
    const double load = std::accumulate(busy.begin(), busy.end(), 0.0);
    if (serving > 1 && load <= limits.pack_below * (serving - 1)) return serving - 1;
    return serving;
}

SpreadLimits spread_limits(unsigned spread_above_percent) {
    if (spread_above_percent == 0) return {0, 0};
    const double above = spread_above_percent / 100.0;
    // 20 points under the spread threshold (at least half of it): a worker that was given
    // the clients of another starts well below the point where it would spread them again.
    return {above, std::max(above / 2, above - 0.2)};
}

}  // namespace pgsluice::proxy
