#include "proxy/crypto_thread.hpp"

namespace pgsluice::proxy {

asio::thread_pool::executor_type crypto_executor() {
    // Leaked on purpose: destroying it at exit would wait for a derivation in progress.
    static auto* pool = new asio::thread_pool(1);
    return pool->get_executor();
}

}  // namespace pgsluice::proxy
