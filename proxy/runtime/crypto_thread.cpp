#include "proxy/runtime/crypto_thread.hpp"

#include <pthread.h>

namespace pgsluice::proxy {

asio::thread_pool::executor_type crypto_executor() {
    // Leaked on purpose: destroying it at exit would wait for a derivation in progress.
    static auto* pool = [] {
        auto* made = new asio::thread_pool(1);
        // Named, so that its CPU time shows apart from the workers' (top -H, /proc).
        asio::post(*made, [] { ::pthread_setname_np(::pthread_self(), "pgsluice-crypto"); });
        return made;
    }();
    return pool->get_executor();
}

}  // namespace pgsluice::proxy
