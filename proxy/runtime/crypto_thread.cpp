#include "proxy/runtime/crypto_thread.hpp"

#include <pthread.h>

#include <atomic>
#include <future>

namespace pgsluice::proxy {

namespace {
std::atomic<asio::thread_pool*> made_pool{nullptr};  // for finish_crypto_work: none until first use
}

asio::thread_pool::executor_type crypto_executor() {
    // Leaked on purpose: destroying it at exit would wait for a derivation in progress.
    static auto* pool = [] {
        auto* made = new asio::thread_pool(1);
        // Named, so that its CPU time shows apart from the workers' (top -H, /proc).
        asio::post(*made, [] { ::pthread_setname_np(::pthread_self(), "pgsluice-crypto"); });
        made_pool.store(made);
        return made;
    }();
    return pool->get_executor();
}

void finish_crypto_work() {
    auto* pool = made_pool.load();
    if (!pool) return;
    // One thread, first in first out: once this runs, every derivation queued before it has
    // returned and handed its result to its worker's queue.
    std::promise<void> reached;
    auto done = reached.get_future();
    asio::post(*pool, [&reached] { reached.set_value(); });
    done.wait();
}

}  // namespace pgsluice::proxy
