// Where slow key derivation runs: PBKDF2 with an iteration count a server chooses (SCRAM's
// server-first-message may ask for millions) or a config's verifier sets. One thread of its
// own, so a worker thread keeps serving its other clients meanwhile; the coroutine that asks
// resumes on its own worker with the result.
#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/thread_pool.hpp>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

// The thread, made on first use and kept for the life of the process (never joined: the
// shutdown waits for its work instead, finish_crypto_work).
asio::thread_pool::executor_type crypto_executor();

// Waits until every derivation handed to the crypto thread so far is over, its result
// posted to the worker that asked. Shutdown calls it once no worker runs and before the
// workers' io_contexts go: a derivation finishing later would post to (and count work on)
// a destroyed io_context. A derivation is bounded (server_scram_max_iterations, the config's
// verifiers), so this wait is too.
void finish_crypto_work();

// Runs `work()` on the crypto thread and returns its result. What `work` refers to must stay
// put until then: the caller is suspended meanwhile, so its locals do.
template <class Work>
awaitable<std::invoke_result_t<Work&>> off_worker(Work work) {
    using Result = std::invoke_result_t<Work&>;
    co_return co_await asio::co_spawn(
        crypto_executor(), [work = std::move(work)]() mutable -> awaitable<Result> { co_return work(); },
        use_awaitable);
}

}  // namespace pgsluice::proxy
