// A Transport: a plain socket, or OpenSSL on its descriptor.
#include "proxy/io/transport.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "proxy/io/bare_socket_calls.hpp"

namespace pgsluice::proxy {

namespace {
// What OpenSSL made of the last call: go on after a wait, or the stream is over. The
// thread's error queue is emptied either way, so that no stale error is blamed on the next
// connection served by this thread.
Transport::Io tls_outcome(SSL* ssl, int result) {
    const int error = SSL_get_error(ssl, result);
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Transport::Io::would_block;
    return Transport::Io::closed;
}

// The first error OpenSSL queued, for a log line.
std::string tls_error_text() {
    const auto code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "connection closed during the TLS handshake";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}
}  // namespace

Transport::IoResult Transport::read_now(std::uint8_t* data, std::size_t size) {
    if (ssl_) {
        while (true) {
            const auto read = tls_read(data, size);
            if (read.status != Io::would_block || tls_wants_write()) return read;
            if (fill_inbox_now() == Io::would_block) return read;
        }
    }
    const auto n = recv_direct(socket_.native_handle(), data, size, MSG_DONTWAIT);
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n < 0 && would_block()) return {Io::would_block, 0};
    return {Io::closed, 0};
}

Transport::IoResult Transport::tls_read(std::uint8_t* data, std::size_t size) {
    std::size_t n = 0;
    const int result = SSL_read_ex(ssl_.get(), data, size, &n);
    if (result == 1) return {Io::done, n};
    return {tls_outcome(ssl_.get(), result), 0};
}

Transport::Io Transport::fill_inbox_now() {
    if (tls_bio_->at_end()) return Io::closed;
    const auto space = tls_bio_->space();
    const auto n = recv_direct(socket_.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
    if (n > 0) {
        tls_bio_->filled(static_cast<std::size_t>(n));
        return Io::done;
    }
    if (n < 0 && would_block()) {
        tls_bio_->release_if_idle();  // nothing came: no buffer is kept while the caller waits
        return Io::would_block;
    }
    tls_bio_->set_end();
    return Io::closed;
}

awaitable<boost::system::error_code> Transport::tls_progress() {
    if (tls_wants_write()) {
        auto [ec] = co_await socket_.async_wait(Socket::wait_write, asio::as_tuple(use_awaitable));
        co_return ec;
    }
    while (fill_inbox_now() == Io::would_block) {
        auto [ec] = co_await socket_.async_wait(Socket::wait_read, asio::as_tuple(use_awaitable));
        if (ec) co_return ec;
    }
    co_return boost::system::error_code{};  // bytes, or the end, which OpenSSL reports next
}

bool Transport::tls_readable_now() {
    std::uint8_t byte;
    std::size_t n = 0;
    const int result = SSL_peek_ex(ssl_.get(), &byte, 1, &n);
    const bool readable = result == 1 || tls_outcome(ssl_.get(), result) == Io::closed;
    tls_bio_->release_if_idle();
    return readable;
}

Transport::IoResult Transport::write_now(const std::uint8_t* data, std::size_t size) {
    if (ssl_) {
        std::size_t n = 0;
        const int result = SSL_write_ex(ssl_.get(), data, size, &n);
        if (result == 1) return {Io::done, n};
        return {tls_outcome(ssl_.get(), result), 0};
    }
    const auto n = send_direct(socket_.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n < 0 && would_block()) return {Io::would_block, 0};
    return {Io::closed, 0};
}

awaitable<std::tuple<boost::system::error_code, std::size_t>> Transport::read_some(asio::mutable_buffer buffer) {
    if (!ssl_) co_return co_await socket_.async_read_some(buffer, asio::as_tuple(use_awaitable));
    while (true) {
        const auto read = tls_read(static_cast<std::uint8_t*>(buffer.data()), buffer.size());
        if (read.status == Io::done) co_return std::tuple{boost::system::error_code{}, read.bytes};
        if (read.status == Io::closed) co_return std::tuple{tls_closed_code(), std::size_t{0}};
        const auto ec = co_await tls_progress();
        if (ec) co_return std::tuple{ec, std::size_t{0}};
    }
}

awaitable<boost::system::error_code> Transport::write(asio::const_buffer bytes) {
    if (!ssl_) {
        auto [ec, n] = co_await asio::async_write(socket_, bytes, asio::as_tuple(use_awaitable));
        co_return ec;
    }
    const auto* data = static_cast<const std::uint8_t*>(bytes.data());
    std::size_t written = 0;
    while (written < bytes.size()) {
        const auto sent = write_now(data + written, bytes.size() - written);
        if (sent.status == Io::done) {
            written += sent.bytes;
            continue;
        }
        if (sent.status == Io::closed) co_return asio::error::connection_reset;
        const auto ec = co_await tls_progress();
        if (ec) co_return ec;
    }
    co_return boost::system::error_code{};
}

awaitable<boost::system::error_code> Transport::wait_writable() {
    if (ssl_) {
        const auto ec = co_await tls_progress();
        co_return ec;
    }
    auto [ec] = co_await socket_.async_wait(Socket::wait_write, asio::as_tuple(use_awaitable));
    co_return ec;
}

awaitable<void> Transport::read_exactly(asio::mutable_buffer buffer) {
    if (!ssl_) {
        co_await asio::async_read(socket_, buffer, use_awaitable);
        co_return;
    }
    while (buffer.size() > 0) {
        auto [ec, n] = co_await read_some(buffer);
        if (ec) throw boost::system::system_error(ec);
        buffer += n;
    }
}

awaitable<void> Transport::write_all(std::string_view bytes) {
    if (auto ec = co_await write(asio::buffer(bytes.data(), bytes.size()))) throw boost::system::system_error(ec);
}

awaitable<void> Transport::start_tls_server(SSL_CTX* context) { co_await handshake(context, true, {}); }

awaitable<void> Transport::start_tls_client(SSL_CTX* context, const std::string& host) {
    co_await handshake(context, false, host);
}

awaitable<void> Transport::handshake(SSL_CTX* context, bool as_server, const std::string& host) {
    SSL* ssl = SSL_new(context);
    if (!ssl) throw TlsError("cannot start TLS: " + tls_error_text());
    ssl_.reset(ssl);
    // Idle connections keep no read and write buffers (about 34 KB each otherwise; a busy
    // client keeps them, see keep_tls_buffers); a write that found the socket full is
    // retried from a plan that may have moved in memory.
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // OpenSSL's writes go to the descriptor as they come: it must never block the worker.
    // Its reads come from the inbox, which the Transport fills.
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) throw boost::system::system_error(ec);
    tls_bio_ = std::make_unique<TlsBio>(socket_.native_handle());
    BIO* bio = tls_bio_->make_bio();
    if (!bio) throw TlsError("cannot start TLS: " + tls_error_text());
    SSL_set_bio(ssl, bio, bio);  // both roles, one reference: the SSL frees it
    if (as_server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (!host.empty()) {
            // Checked against the certificate when the context verifies peers (verify-full);
            // sent as SNI unless it is an address.
            SSL_set1_host(ssl, host.c_str());
            boost::system::error_code not_an_address;
            asio::ip::make_address(host, not_an_address);
            if (not_an_address) SSL_set_tlsext_host_name(ssl, host.c_str());
        }
    }
    while (true) {
        ERR_clear_error();
        const int result = SSL_do_handshake(ssl);
        if (result == 1) co_return;
        const int error = SSL_get_error(ssl, result);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            std::string why = tls_error_text();
            if (const auto verify = SSL_get_verify_result(ssl); verify != X509_V_OK)
                why += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
            throw TlsError(why);
        }
        // An EOF or a reset is OpenSSL's to report, as the handshake's failure.
        const auto wait_error = co_await tls_progress();
        if (wait_error == asio::error::operation_aborted) throw boost::system::system_error(wait_error);
    }
}

bool Transport::peer_hung_up() {
    pollfd state{socket_.native_handle(), POLLRDHUP, 0};
    return ::poll(&state, 1, 0) > 0 && (state.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool Transport::closed_unheard() {
    std::uint8_t byte;
    const auto n = recv_direct(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && !would_block());
}

bool Transport::has_unread_input_or_eof() {
    if (ssl_) {
        // A peek through TLS: records that carry no data (a TLS 1.3 session ticket sent
        // after the handshake, a key update) are taken in stride; data, an alert or EOF are not.
        while (true) {
            if (tls_readable_now()) return true;
            if (tls_wants_write() || fill_inbox_now() == Io::would_block) return false;
        }
    }
    std::uint8_t byte;
    const auto n = recv_direct(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && would_block());
}

void Transport::cancel() {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    // A cancelled read into the inbox wrote nothing and will not: its buffer may go.
    if (tls_bio_) tls_bio_->set_reading(false);
}

void Transport::close(std::string_view last_words) {
    if (!socket_.is_open()) return;
    if (ssl_) {
        // Best effort, never waiting: the words and a close_notify if the socket takes them.
        std::size_t n = 0;
        if (!last_words.empty()) SSL_write_ex(ssl_.get(), last_words.data(), last_words.size(), &n);
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    } else if (!last_words.empty()) {
        [[maybe_unused]] auto sent =
            send_direct(socket_.native_handle(), last_words.data(), last_words.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    // The descriptor's number may be another connection's from now on: OpenSSL must not
    // write to it, and a read pending into the inbox is over.
    if (tls_bio_) tls_bio_->forget_socket();
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
