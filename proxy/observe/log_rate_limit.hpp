// At most one log line per period for a repeating error (an accept loop out of descriptors
// fails ten times a second): the lines held back are counted and the next one reports them.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace pgsluice::proxy {

class LogRateLimit {
public:
    using Clock = std::chrono::steady_clock;

    explicit LogRateLimit(Clock::duration period) : period_(period) {}

    // When a line may be written now: how many were held back since the last one written.
    // Else nullopt, and this one is counted as held back.
    std::optional<std::uint64_t> allow(Clock::time_point now) {
        if (written_ && now - last_ < period_) {
            ++held_back_;
            return std::nullopt;
        }
        written_ = true;
        last_ = now;
        const auto held = held_back_;
        held_back_ = 0;
        return held;
    }

private:
    Clock::duration period_;
    Clock::time_point last_{};
    bool written_ = false;
    std::uint64_t held_back_ = 0;
};

// The same for a line any worker may write (a refusal at max_client_conn during a flood).
class SharedLogRateLimit {
public:
    explicit SharedLogRateLimit(LogRateLimit::Clock::duration period) : limit_(period) {}

    std::optional<std::uint64_t> allow(LogRateLimit::Clock::time_point now) {
        std::lock_guard lock(mutex_);
        return limit_.allow(now);
    }

private:
    std::mutex mutex_;
    LogRateLimit limit_;
};

}  // namespace pgsluice::proxy
