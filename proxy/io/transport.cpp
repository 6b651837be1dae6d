// A Transport over a plain socket.
#include "proxy/io/transport.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgsluice::proxy {

namespace {
// recv and send as bare system calls: libc's wrappers are thread cancellation points,
// which switch asynchronous cancellation on and off around each call (two atomic
// operations), and no thread of pgsluice is ever cancelled.
ssize_t recv_direct(int fd, void* data, std::size_t size, int flags) {
    return ::syscall(SYS_recvfrom, fd, data, size, flags, nullptr, nullptr);
}
ssize_t send_direct(int fd, const void* data, std::size_t size, int flags) {
    return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }
}  // namespace

Transport::IoResult Transport::read_now(std::uint8_t* data, std::size_t size) {
    const auto n = recv_direct(socket_.native_handle(), data, size, MSG_DONTWAIT);
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n < 0 && would_block()) return {Io::would_block, 0};
    return {Io::closed, 0};
}

Transport::IoResult Transport::write_now(const std::uint8_t* data, std::size_t size) {
    const auto n = send_direct(socket_.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n < 0 && would_block()) return {Io::would_block, 0};
    return {Io::closed, 0};
}

awaitable<std::tuple<boost::system::error_code, std::size_t>> Transport::read_some(asio::mutable_buffer buffer) {
    co_return co_await socket_.async_read_some(buffer, asio::as_tuple(use_awaitable));
}

awaitable<boost::system::error_code> Transport::write(asio::const_buffer bytes) {
    auto [ec, n] = co_await asio::async_write(socket_, bytes, asio::as_tuple(use_awaitable));
    co_return ec;
}

awaitable<void> Transport::read_exactly(asio::mutable_buffer buffer) {
    co_await asio::async_read(socket_, buffer, use_awaitable);
}

awaitable<void> Transport::write_all(std::string_view bytes) {
    co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_awaitable);
}

bool Transport::peer_hung_up() {
    pollfd state{socket_.native_handle(), POLLRDHUP, 0};
    return ::poll(&state, 1, 0) > 0 && (state.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool Transport::has_unread_input_or_eof() {
    std::uint8_t byte;
    const auto n = recv_direct(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && would_block());
}

void Transport::cancel() {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
}

void Transport::close(std::string_view last_words) {
    if (!socket_.is_open()) return;
    if (!last_words.empty())
        [[maybe_unused]] auto sent = send_direct(socket_.native_handle(), last_words.data(), last_words.size(),
                                                 MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
}

bool Transport::local_protocol(asio::generic::stream_protocol& protocol) const {
    boost::system::error_code ec;
    const auto local = socket_.local_endpoint(ec);
    if (ec) return false;
    protocol = local.protocol();
    return true;
}

bool Transport::move_to(const Executor& executor, const asio::generic::stream_protocol& protocol) {
    if (&asio::query(executor, asio::execution::context) == &asio::query(socket_.get_executor(), asio::execution::context))
        return true;
    boost::system::error_code ec;
    const auto fd = socket_.release(ec);
    if (ec) return false;
    Socket moved(executor);
    moved.assign(protocol, fd, ec);
    if (ec) {
        socket_.assign(protocol, fd, ec);  // back where it was; a failure shows at the next wait
        return false;
    }
    socket_ = std::move(moved);
    return true;
}

bool Transport::local_address(std::string& address, std::uint16_t& port) const {
    boost::system::error_code ec;
    const auto local = socket_.local_endpoint(ec);
    if (ec) return false;
    if (local.protocol().family() == AF_UNIX) {
        address = "unix";
        port = 0;
        return true;
    }
    asio::ip::tcp::endpoint tcp;
    if (local.size() > tcp.capacity()) return false;
    std::memcpy(tcp.data(), local.data(), local.size());
    tcp.resize(local.size());
    address = tcp.address().to_string();
    port = tcp.port();
    return true;
}

}  // namespace pgsluice::proxy
