// What a session holds from a pool: a ServerLease (a server on loan), a WaitOutcome (what its
// wait in the queue came to, until it takes it), and the QuickWaiter interface through which
// the quick path hears that its wait is over. Each gives back what it holds when dropped, so
// no server or slot is lost on any path.
#pragma once

#include <memory>

#include "proxy/backend/server_connection.hpp"

namespace pgsluice::proxy {

class Pool;
struct PoolWaiter;  // a place in a pool's queue (waiter_queue.hpp)
class WaitOutcome;

// A session that waits for a server with no coroutine (the quick path). Told once, on its
// own worker, when its wait is over, whatever the outcome.
class QuickWaiter {
public:
    virtual void on_wait_over(WaitOutcome outcome) = 0;

protected:
    ~QuickWaiter() = default;
};

// What a session's wait in a pool's queue came to, until the session takes it: a server, a
// slot to open one, an error, or query_wait_timeout. Pool::take_waited_server() takes a
// server at once; Pool::acquire(outcome) does the rest. Dropped untaken, it abandons the
// wait: the server or slot it holds goes back to the pool.
class WaitOutcome {
public:
    WaitOutcome() = default;
    WaitOutcome(std::shared_ptr<Pool> pool, std::shared_ptr<PoolWaiter> waiter);
    WaitOutcome(WaitOutcome&&) noexcept = default;
    WaitOutcome& operator=(WaitOutcome&& other) noexcept;
    WaitOutcome(const WaitOutcome&) = delete;
    WaitOutcome& operator=(const WaitOutcome&) = delete;
    ~WaitOutcome();

    explicit operator bool() const { return waiter_ != nullptr; }

private:
    friend class Pool;
    void abandon();
    std::shared_ptr<Pool> pool_;
    std::shared_ptr<PoolWaiter> waiter_;
};

// A server on loan to one session. Dropping the lease without release_reusable() closes the
// server: the safe default when a session ends in a state nobody checked.
class ServerLease {
public:
    ServerLease() = default;
    ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server);
    // For the pool itself, which listed the server as leased already (under its lock).
    struct Listed {};
    ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server, Listed);
    ServerLease(ServerLease&&) noexcept = default;
    ServerLease& operator=(ServerLease&& other) noexcept;
    ServerLease(const ServerLease&) = delete;
    ServerLease& operator=(const ServerLease&) = delete;
    ~ServerLease();

    explicit operator bool() const { return server_ != nullptr; }
    ServerConnection* operator->() const { return server_.get(); }
    ServerConnection& operator*() const { return *server_; }

    void release_reusable();               // back to the pool for the next client
    void release_closed(const char* why);  // close it, with the reason for the log

private:
    std::shared_ptr<Pool> pool_;
    std::unique_ptr<ServerConnection> server_;
};

}  // namespace pgsluice::proxy
