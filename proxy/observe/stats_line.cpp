// The periodic stats line: deltas over the period, as rates and means.
#include "proxy/observe/stats_line.hpp"

#include <spdlog/fmt/fmt.h>

namespace pgsluice::proxy {

namespace {
std::uint64_t delta(std::uint64_t before, std::uint64_t after) { return after > before ? after - before : 0; }
std::uint64_t per(std::uint64_t amount, std::uint64_t count) { return count ? amount / count : 0; }
}  // namespace

std::string stats_line(const StatsTotals& before_period, const StatsTotals& after_period, double seconds) {
    if (seconds <= 0) seconds = 1;
    const auto& before = before_period.counters;
    const auto& after = after_period.counters;
    const auto xacts = delta(before.transactions, after.transactions);
    const auto queries = delta(before.queries, after.queries);
    const auto rate = [&](std::uint64_t n) { return static_cast<std::uint64_t>(static_cast<double>(n) / seconds + 0.5); };
    return fmt::format(
        "stats: {} xacts/s, {} queries/s, in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us; "
        "{} clients ({} waiting), {} servers ({} idle)",
        rate(xacts), rate(queries), rate(delta(before.bytes_received, after.bytes_received)),
        rate(delta(before.bytes_sent, after.bytes_sent)),
        per(delta(before.transaction_time_us, after.transaction_time_us), xacts),
        per(delta(before.query_time_us, after.query_time_us), queries),
        per(delta(before.wait_time_us, after.wait_time_us), delta(before.waits, after.waits)), after_period.clients,
        after_period.clients_waiting, after_period.servers, after_period.servers_idle);
}

}  // namespace pgsluice::proxy
