// client_write_timeout (limits.client_write_timeout): a client that takes no byte of what
// pgsluice has for it for that long is closed. Only a write that found the client's socket
// full is watched, so a transaction whose answers fit pays nothing: no timer, no clock read.
// A watched write joins its worker's QuickDeadlines list (one timer per worker, a look every
// 100 ms); each look that finds no byte moved since the last one lets the silence grow, and
// past the limit the look cancels the pending write (Transport::cancel), which then fails
// with asio::error::timed_out and `expired()` says why.
#pragma once

#include <atomic>
#include <string>

#include "proxy/asio.hpp"
#include "proxy/runtime/quick_deadlines.hpp"

namespace pgsluice::proxy {

class Transport;

// The process's client_write_timeout (0: off), set from each config as it goes live
// (ProxyContext); a write that blocks reads it then, so a reload applies to the next one.
void set_client_write_timeout(Duration limit);
Duration client_write_timeout();

class WriteDeadline {
public:
    WriteDeadline() = default;
    WriteDeadline(const WriteDeadline&) = delete;
    WriteDeadline& operator=(const WriteDeadline&) = delete;

    // A write to `to` found the socket full and is about to wait. Starts watching unless it
    // already does or the limit is off.
    void blocked(Transport& to);
    // Bytes of the write went out: the peer is reading.
    void progressed() { moved_ = true; }
    // The write finished or failed: nothing to watch.
    void done() { QuickDeadlines::forget(hook_); }
    // The limit passed: the write was cancelled for it.
    bool expired() const { return expired_; }
    // For the session's log line.
    std::string reason() const;
    // Back to new (a Traffic taken again from the worker's cache).
    void reset() {
        done();
        expired_ = false;
    }

private:
    static void look(void* owner, Clock::time_point now);

    QuickDeadlines::Hook hook_;
    Transport* to_ = nullptr;
    Duration limit_{0};
    Clock::time_point last_progress_{};
    bool moved_ = false;
    bool expired_ = false;
};

}  // namespace pgsluice::proxy
