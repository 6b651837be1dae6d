// The timeouts of sessions on the quick path (query_timeout, idle_transaction_timeout): one
// list and one timer per worker instead of a timer per transaction. A session joins its
// worker's list while it holds a server under a limit; the worker looks over the list every
// kSweep and calls each member's sweep function, which decides from the session's
// SilenceClock. A limit is noticed up to kSweep late (PgBouncer looks once a second), and a
// transaction pays two pointer updates instead of arming and cancelling a timer.
#pragma once

#include <chrono>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {


class QuickDeadlines {
public:
    static constexpr Duration kSweep = std::chrono::milliseconds(100);
    using Sweep = void (*)(void* owner, Clock::time_point now);

    // A member of one worker's list; leaves it when destroyed. Only touched on its worker
    // (or while that worker's io_context shuts down, which unlinks every member first).
    class Hook {
    public:
        Hook() = default;
        Hook(const Hook&) = delete;
        Hook& operator=(const Hook&) = delete;
        ~Hook() { QuickDeadlines::forget(*this); }
        bool linked() const { return list_ != nullptr; }

    private:
        friend class QuickDeadlines;
        Hook* previous_ = nullptr;
        Hook* next_ = nullptr;
        QuickDeadlines* list_ = nullptr;
        Sweep sweep_ = nullptr;
        void* owner_ = nullptr;
    };

    // Joins the list of the worker whose executor is `executor` (the caller runs on it);
    // `sweep(owner, now)` runs there at every look while the hook stays listed.
    static void watch(Hook& hook, const Executor& executor, Sweep sweep, void* owner);
    static void forget(Hook& hook);

    // One per worker io_context (an Asio service: it goes with the context).
    class Service;

private:
    explicit QuickDeadlines(Executor executor) : timer_(executor) {}
    void look(Clock::time_point now);
    void unlink_all();

    Hook* first_ = nullptr;
    asio::steady_timer timer_;
    bool armed_ = false;
};

}  // namespace pgsluice::proxy
