// The worker threads: one io_context per thread, each run by that thread alone.
//
// A client session lives on one worker from accept to close, so its handlers never cross
// threads and need no strand; the scheduler of a one-thread io_context takes no contended
// lock and never wakes a second thread to run a handler. What is shared between workers
// (pools, budgets, registries) sits behind its own short mutex. A server connection moves
// to the worker of the session that leases it (ServerConnection::move_to).
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

class Workers {
public:
    explicit Workers(unsigned count);
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;
    ~Workers();

    std::size_t size() const { return contexts_.size(); }
    // The first worker also runs the daemon's control work (signals, accept, reload, drain).
    asio::io_context& control() { return *contexts_.front(); }
    // Where the next accepted client goes: round robin.
    asio::io_context& next();

    // Runs every worker; returns when all have stopped (stop()).
    void run();
    void stop();

private:
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace pgsluice::proxy
