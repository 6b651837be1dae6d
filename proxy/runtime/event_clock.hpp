// The time of the event a worker is handling: the clock is read once per quick-path handler
// instead of at every step that asks for the time.
//
// Why: one handler (a client's statement read, a server taken, its answer forwarded, the
// server given back, the session parked) runs for microseconds, and nothing that reads the
// time there needs a finer one: the traffic timeouts, SHOW CLIENTS' state times, the
// statistics in microseconds, a server's idle time. Each read is a vDSO call that a virtual
// machine's clock (kvm-clock) makes slow; a select transaction made 12 reads (16 with the
// extended protocol) and now makes about 3. libevent caches its loop's time the same way.
//
// A handler opens a Scope on its stack; EventClock::now() inside it reads the clock at its
// first call and returns that time after. Outside any Scope, and in a Scope nested in
// another (which defers to the outer one), it is as described. Never hold a Scope across a
// co_await: the thread goes on to other handlers while the coroutine waits.
#pragma once

#include <optional>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

class EventClock {
public:
    class Scope {
    public:
        Scope() : owner_(current_ == nullptr) {
            if (owner_) current_ = this;
        }
        ~Scope() {
            if (owner_) current_ = nullptr;
        }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        friend class EventClock;
        const bool owner_;
        std::optional<Clock::time_point> now_;
    };

    static Clock::time_point now() {
        Scope* scope = current_;
        if (!scope) return Clock::now();
        if (!scope->now_) scope->now_ = Clock::now();
        return *scope->now_;
    }

private:
    static inline thread_local Scope* current_ = nullptr;
};

}  // namespace pgsluice::proxy
