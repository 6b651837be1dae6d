#include "proxy/workers.hpp"

namespace pgsluice::proxy {

Workers::Workers(unsigned count) {
    for (unsigned i = 0; i < std::max(1u, count); ++i) {
        // Concurrency hint 1: exactly one thread runs this context.
        contexts_.push_back(std::make_unique<asio::io_context>(1));
        // A worker with no client yet must not return from run().
        keep_running_.push_back(asio::make_work_guard(*contexts_.back()));
    }
}

Workers::~Workers() { stop(); }

asio::io_context& Workers::next() { return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }

void Workers::run() {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts_.size(); ++i) threads.emplace_back([this, i] { contexts_[i]->run(); });
    contexts_.front()->run();
    for (auto& thread : threads) thread.join();
}

void Workers::stop() {
    for (auto& context : contexts_) context->stop();
}

}  // namespace pgsluice::proxy
