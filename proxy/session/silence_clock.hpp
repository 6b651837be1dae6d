// The timeouts that run while a client holds a server: query_timeout (the server has been
// busy too long), idle_transaction_timeout (the client sits inside a transaction saying
// nothing) and, in session mode, client_idle_timeout. Pure bookkeeping over timestamps the
// forwarder feeds it, so the per-message cost is one clock read, and only when a limit is set.
#pragma once

#include <algorithm>

#include "protocol/server_state.hpp"
#include "proxy/asio.hpp"

namespace pgsluice::proxy {

struct SilenceLimits {
    Duration query_timeout{0};             // 0: off
    Duration idle_transaction_timeout{0};  // 0: off
    Duration client_idle_timeout{0};       // 0: off (the forwarder sets it in session mode only)
    bool any() const {
        return query_timeout.count() > 0 || idle_transaction_timeout.count() > 0 || client_idle_timeout.count() > 0;
    }
};

enum class Overrun {
    none,
    query_timeout,             // cancel the query; the server answers 57014 and goes on
    query_cancel_unanswered,   // a cancel was sent a whole query_timeout ago: give up on the server
    idle_transaction_timeout,  // close the client; its transaction is rolled back with the server
    client_idle_timeout,       // close the client
};

class SilenceClock {
public:
    SilenceClock(SilenceLimits limits, Clock::time_point now)
        : limits_(limits), last_client_(now), last_ready_(now), busy_since_(now) {}

    bool enabled() const { return limits_.any(); }

    // Every message the client sends, before `state` counts it.
    void on_client_message(const protocol::ServerState& state, Clock::time_point now) {
        if (state.awaiting_ready() == 0) {
            busy_since_ = now;
            cancel_sent_ = false;
        }
        last_client_ = now;
    }
    // Every ReadyForQuery the server sends.
    void on_ready_for_query(Clock::time_point now) { last_ready_ = now; }
    // The forwarder sent a cancel for the running query: allow it one more query_timeout.
    void on_cancel_sent(Clock::time_point now) {
        cancel_sent_ = true;
        busy_since_ = now;
    }

    struct Check {
        Overrun overrun = Overrun::none;
        Clock::time_point next_check;  // when nothing is overdue: when to look again
    };

    Check check(const protocol::ServerState& state, Clock::time_point now) const {
        Duration limit{0};
        Clock::time_point since;
        Overrun kind = Overrun::none;
        if (state.awaiting_ready() > 0) {
            limit = limits_.query_timeout;
            since = busy_since_;
            kind = cancel_sent_ ? Overrun::query_cancel_unanswered : Overrun::query_timeout;
        } else if (state.transaction_status() != 'I') {
            limit = limits_.idle_transaction_timeout;
            since = std::max(last_client_, last_ready_);
            kind = Overrun::idle_transaction_timeout;
        } else {
            limit = limits_.client_idle_timeout;
            since = std::max(last_client_, last_ready_);
            kind = Overrun::client_idle_timeout;
        }
        if (limit.count() <= 0) return {Overrun::none, now + poll_interval()};
        if (now - since >= limit) return {kind, now};
        return {Overrun::none, std::min(since + limit, now + poll_interval())};
    }

private:
    // The state may change without a message we time (a reply starts a transaction), so
    // look again at least this often: the shortest limit that is set.
    Duration poll_interval() const {
        Duration shortest = std::chrono::hours(1);
        for (auto limit : {limits_.query_timeout, limits_.idle_transaction_timeout, limits_.client_idle_timeout})
            if (limit.count() > 0) shortest = std::min(shortest, limit);
        return shortest;
    }

    SilenceLimits limits_;
    Clock::time_point last_client_;
    Clock::time_point last_ready_;
    Clock::time_point busy_since_;
    bool cancel_sent_ = false;
};

}  // namespace pgsluice::proxy
