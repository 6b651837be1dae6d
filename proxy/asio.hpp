// The Asio vocabulary the proxy uses, in one place: one socket type for TCP and Unix
// clients alike, coroutines, and a deadline helper (Asio 1.26 has no cancel_after).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <optional>
#include <variant>

namespace pgsluice::proxy {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
// Every socket lives on one worker's io_context. Naming that executor type (rather than
// any_io_executor) keeps each socket and each pending operation on it small: an idle
// client is mostly its socket and its one pending wait.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;

// The worker executor behind a coroutine's (polymorphic) executor: every coroutine of the
// proxy runs on some worker's io_context.
inline Executor worker_executor(const asio::any_io_executor& executor) {
    return static_cast<asio::io_context&>(asio::query(executor, asio::execution::context)).get_executor();
}
using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;

// Thrown when a deadline passes; the awaited operation has been cancelled by then.
struct DeadlineExpired : std::runtime_error {
    DeadlineExpired() : std::runtime_error("deadline expired") {}
};

// Runs `operation` with a watchdog timer; the first to finish cancels the other. An
// exception from `operation` comes out at once: Asio's `||` waits for the first *success*,
// so a failure is caught inside and rethrown here, or it would wait out the timer (a client
// that closed during login would hold its max_client_conn place for the whole login timeout).
// A zero duration means no deadline.
template <class T>
awaitable<T> with_deadline(awaitable<T> operation, Duration timeout) {
    using namespace asio::experimental::awaitable_operators;
    if (timeout.count() <= 0) co_return co_await std::move(operation);
    using Box = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
    auto guarded = [](awaitable<T> op, std::exception_ptr& failure) -> awaitable<std::optional<Box>> {
        try {
            if constexpr (std::is_void_v<T>) {
                co_await std::move(op);
                co_return Box{};
            } else {
                co_return co_await std::move(op);
            }
        } catch (...) {
            failure = std::current_exception();
            co_return std::nullopt;
        }
    };
    std::exception_ptr failure;
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto result = co_await (guarded(std::move(operation), failure) || timer.async_wait(use_awaitable));
    if (result.index() == 1) throw DeadlineExpired();
    if (failure) std::rethrow_exception(failure);
    if constexpr (!std::is_void_v<T>) co_return std::move(*std::get<0>(std::move(result)));
}

}  // namespace pgsluice::proxy
