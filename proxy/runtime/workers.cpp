#include "proxy/runtime/workers.hpp"

#include "proxy/pool/pool_stats.hpp"
#include "proxy/runtime/crypto_thread.hpp"

#include <time.h>

#include <algorithm>
#include <exception>
#include <string>

namespace pgsluice::proxy {

Workers::Workers(unsigned count, const SpreadLimits& limits)
    : workers_(std::max(1u, count)),
      control_(std::make_unique<Context>(1)),
      first_stat_shard_(StatShards::reserve(static_cast<unsigned>(workers_.size()))),
      serving_(workers_to_serve({}, static_cast<unsigned>(workers_.size()), limits)) {
    keep_running_.push_back(asio::make_work_guard(*control_));
    for (auto& worker : workers_) {
        // Concurrency hint 1: exactly one thread runs this context.
        worker.context = std::make_unique<Context>(1);
        // A worker with no client yet must not return from run().
        keep_running_.push_back(asio::make_work_guard(*worker.context));
    }
}

Workers::~Workers() {
    stop();
    join();
    // A key derivation still running on the crypto thread posts its result to its worker's
    // io_context when it ends: let it, while the io_context still exists.
    finish_crypto_work();
    // No thread runs a worker now. Every context is shut down before the first is destroyed,
    // in a few rounds: what a round's destroyed handlers post to a worker shut down already
    // (a session's end waking a waiter elsewhere, whose session then gives back a server
    // whose retirement is spawned on a third) is destroyed by the next.
    keep_running_.clear();
    for (int round = 0; round < 4; ++round) {
        for (auto& worker : workers_) worker.context->shutdown();
        control_->shutdown();
    }
    // One by one, in place: a handler dropped by a context's destructor still finds the
    // list whole (a session's destructor counts itself out on its worker). The control
    // context last: a dropped session may still post to a pool's timer there.
    for (auto& worker : workers_) worker.context.reset();
    control_.reset();
}

void Workers::join() {
    for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
    threads_.clear();
}

asio::io_context& Workers::next() {
    return *workers_[next_.fetch_add(1, std::memory_order_relaxed) % serving()].context;
}

std::size_t Workers::index_of(const Executor& where) const {
    const auto* context = &asio::query(where, asio::execution::context);
    for (std::size_t i = 0; i < workers_.size(); ++i)
        if (workers_[i].context.get() == context) return i;
    return 0;  // not one of ours (cannot happen): counted on the first
}

std::vector<long> Workers::sessions_per_worker() const {
    std::vector<long> out;
    for (const auto& worker : workers_) out.push_back(worker.sessions.load(std::memory_order_relaxed));
    return out;
}

asio::io_context* Workers::destination(const Executor& here) {
    const auto serving = this->serving();
    if (workers_.size() == 1) return nullptr;
    const auto mine = index_of(here);
    std::size_t fewest = 0;
    for (std::size_t i = 1; i < serving; ++i)
        if (workers_[i].sessions.load(std::memory_order_relaxed) < workers_[fewest].sessions.load(std::memory_order_relaxed))
            fewest = i;
    if (mine >= serving) return workers_[fewest].context.get();
    // Two more than the fewest, so that a move always narrows the gap (and never swaps it).
    if (workers_[mine].sessions.load(std::memory_order_relaxed) >=
        workers_[fewest].sessions.load(std::memory_order_relaxed) + 2)
        return workers_[fewest].context.get();
    return nullptr;
}

double Workers::cpu_seconds(const Worker& worker) const {
    timespec now{};
    if (clock_gettime(worker.cpu_clock, &now) != 0) return worker.cpu_seen;
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

bool Workers::rebalance(const SpreadLimits& limits) {
    if (!clocks_known_) return false;  // not running yet: no load to go by
    const auto now = std::chrono::steady_clock::now();
    const double period = std::chrono::duration<double>(now - rebalanced_at_).count();
    rebalanced_at_ = now;
    const auto serving = this->serving();
    std::vector<double> busy;
    for (auto& worker : workers_) {
        const double seen = cpu_seconds(worker);
        if (busy.size() < serving) busy.push_back(period > 0 ? (seen - worker.cpu_seen) / period : 0);
        worker.cpu_seen = seen;
    }
    const auto next = workers_to_serve(busy, static_cast<unsigned>(workers_.size()), limits);
    return serving_.exchange(next, std::memory_order_relaxed) != next;
}

void Workers::run() {
    auto& threads = threads_;
    for (std::size_t i = 1; i < workers_.size(); ++i) {
        threads.emplace_back([this, i] {
            StatShards::enter(first_stat_shard_ + static_cast<unsigned>(i));
            workers_[i].context->run();
        });
        pthread_setname_np(threads.back().native_handle(), ("pgsluice-w" + std::to_string(i)).c_str());
    }
    // Before the control worker runs, so that its rebalance finds every clock.
    pthread_getcpuclockid(pthread_self(), &workers_[0].cpu_clock);
    for (std::size_t i = 1; i < workers_.size(); ++i) pthread_getcpuclockid(threads[i - 1].native_handle(), &workers_[i].cpu_clock);
    for (auto& worker : workers_) worker.cpu_seen = cpu_seconds(worker);
    rebalanced_at_ = std::chrono::steady_clock::now();
    clocks_known_ = true;
    // After the clocks are known: the control thread's first rebalance finds every one.
    std::exception_ptr control_failed;
    threads.emplace_back([this, &control_failed] {
        try {
            control_->run();
        } catch (...) {
            control_failed = std::current_exception();
            stop();
        }
    });
    pthread_setname_np(threads.back().native_handle(), "pgsluice-ctl");
    StatShards::enter(first_stat_shard_);
    try {
        workers_.front().context->run();
    } catch (...) {
        // A handler threw out of worker 0: the others stop too before it goes on.
        stop();
        join();
        throw;
    }
    join();
    if (control_failed) std::rethrow_exception(control_failed);
}

void Workers::stop() {
    for (auto& worker : workers_) worker.context->stop();
    control_->stop();
}

}  // namespace pgsluice::proxy
