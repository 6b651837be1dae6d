// The one way pgsluice moves bytes to and from a peer (a client or a PostgreSQL server): a
// plain socket, or a TLS stream once start_tls has run on it. Every read and write in proxy/
// goes through a Transport; nothing else does I/O on a file descriptor. It is one concrete
// type, not a template: sessions, server connections and the forwarder all name it, and a
// TLS client takes the same quick path as a plain one.
//
// TLS runs OpenSSL over a BIO of pgsluice's (TlsBio): its writes go to the non-blocking
// descriptor, its reads come from an inbox of the ciphertext the Transport received. An
// operation that cannot go on says what it needs (SSL_want), and the Transport reads the
// socket into the inbox or waits for room to write. Renegotiation and TLS 1.3's
// post-handshake messages need no code of the caller's.
//
// Three ways to use it, for three kinds of caller:
// - without waiting (`read_now`, `write_now`): the quick path's non-blocking steps;
// - with a completion handler (`async_read_some`, `async_wait_readable`): the quick path's
//   and a parked session's waits, whose handler memory the caller provides;
// - as coroutines (`read_some`, `write`, `read_exactly`, `write_all`): login, the admin
//   console, the coroutine forwarder.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>

#include "proxy/asio.hpp"
#include "proxy/io/tls_bio.hpp"

namespace pgsluice::proxy {

// A TLS handshake failed; `what()` says why (OpenSSL's reason, the verify result).
struct TlsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Transport {
public:
    explicit Transport(Socket socket) : socket_(std::move(socket)) {}
    Transport(Transport&&) = default;
    Transport& operator=(Transport&&) = default;

    Executor get_executor() { return socket_.get_executor(); }
    bool is_open() const { return socket_.is_open(); }

    // ---- without waiting ----
    enum class Io {
        done,         // `bytes` moved (at least one)
        would_block,  // nothing to read, or no room to write, right now
        closed,       // end of stream or an error: the next wait or coroutine call reports it
    };
    struct IoResult {
        Io status;
        std::size_t bytes;
    };
    IoResult read_now(std::uint8_t* data, std::size_t size);
    IoResult write_now(const std::uint8_t* data, std::size_t size);

    // ---- with a completion handler ----
    // Reads what is there, or waits for it: `handler(error_code, bytes)`. A read that finds
    // nothing stays queued without a system call (the descriptor stays registered with the
    // worker's epoll, edge-triggered).
    template <class Handler>
    void async_read_some(asio::mutable_buffer buffer, Handler&& handler) {
        if (!ssl_)
            socket_.async_read_some(buffer, std::forward<Handler>(handler));
        else
            tls_read_some(buffer, std::forward<Handler>(handler));
    }
    // Waits until a read would find something (or the peer closed): `handler(error_code)`.
    template <class Handler>
    void async_wait_readable(Handler&& handler) {
        // Over TLS, a whole record may wait in the inbox or in OpenSSL, where the socket
        // never becomes readable for it: a peek (no system call) says.
        if (ssl_ && tls_readable_now())
            asio::post(socket_.get_executor(), asio::append(std::forward<Handler>(handler), boost::system::error_code{}));
        else
            socket_.async_wait(Socket::wait_read, std::forward<Handler>(handler));
    }

    // ---- coroutines ----
    // At least one byte, or the error (asio::error::eof at the end of the stream).
    awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(asio::mutable_buffer buffer);
    // All of `bytes`, or the error.
    awaitable<boost::system::error_code> write(asio::const_buffer bytes);
    // Until a write would take something (or the socket failed): after write_now found it
    // full. Over TLS, the readiness OpenSSL asked for.
    awaitable<boost::system::error_code> wait_writable();
    // As read_some and write, but throwing boost::system::system_error on failure.
    awaitable<void> read_exactly(asio::mutable_buffer buffer);
    awaitable<void> write_all(std::string_view bytes);

    // ---- state, without reading ----
    // The peer closed its side (FIN or reset). Asked only after a wait, where a client that
    // left must not have its query run.
    bool peer_hung_up();
    // Before any TLS: the peer closed (or reset) the connection without sending a byte, as a
    // port scan or a connect flood does. A peek, no wait.
    bool closed_unheard();
    // Bytes are waiting unread: an idle server has nothing to say, so any byte (an error,
    // a notice of its termination) or an EOF means it must not be reused.
    bool has_unread_input_or_eof();

    // Ends whatever operation is pending: its handler gets operation_aborted.
    void cancel();
    // Best effort and never blocks: sends `bytes` if they fit now (an error or a Terminate
    // said on the way out), then shuts both directions and closes.
    void close(std::string_view last_words = {});

    // ---- TLS ----
    // Makes this a TLS stream: the handshake as the server (a client's SSLRequest was
    // accepted) or as the client (towards PostgreSQL; `host`, when not empty, is checked
    // against the server's certificate and sent as SNI). Throws TlsError, or
    // boost::system::system_error when the connection fails.
    awaitable<void> start_tls_server(SSL_CTX* context);
    awaitable<void> start_tls_client(SSL_CTX* context, const std::string& host);
    bool is_tls() const { return ssl_ != nullptr; }
    // The TLS session (peer certificate, channel binding), or null.
    SSL* tls() const { return ssl_.get(); }
    // OpenSSL's record buffers (about 34 KB): by default given back whenever they empty, so
    // that an idle connection holds none; kept while a client is busy (a transaction each
    // would otherwise allocate and free both), and given back again when it goes idle.
    // No-ops on plaintext.
    void keep_tls_buffers() {
        if (ssl_) SSL_clear_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
    }
    void release_tls_buffers() {
        if (!ssl_) return;
        SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
        SSL_free_buffers(ssl_.get());  // keeps a buffer that still holds anything
    }

    // This end's protocol (family and type), for move_to; one getsockname.
    bool local_protocol(asio::generic::stream_protocol& protocol) const;
    // Re-registers the descriptor with the io_context of `executor`, so that its I/O
    // completes on that thread. Only while no operation is pending. False when it could not
    // (it then stays where it was, still usable).
    bool move_to(const Executor& executor, const asio::generic::stream_protocol& protocol);
    // The local address for SHOW SERVERS: "unix", or the IP and port; false when unknown.
    bool local_address(std::string& address, std::uint16_t& port) const;

private:
    struct SslFree {
        void operator()(SSL* ssl) const { SSL_free(ssl); }
    };
    // OpenSSL could not go on for want of room in the socket (else, of ciphertext).
    bool tls_wants_write() const { return SSL_want_write(ssl_.get()) != 0; }
    // The end of a TLS stream or its failure, as an error code (eof for close_notify or EOF).
    boost::system::error_code tls_closed_code() const { return asio::error::eof; }
    awaitable<void> handshake(SSL_CTX* context, bool as_server, const std::string& host);
    // SSL_read from what the inbox holds: no system call.
    IoResult tls_read(std::uint8_t* data, std::size_t size);
    // A recv into the inbox, without waiting.
    Io fill_inbox_now();
    // OpenSSL could not go on: ciphertext into the inbox (now, or once the socket is
    // readable), or a wait for room in the socket. Holds no buffer while it waits.
    awaitable<boost::system::error_code> tls_progress();
    // Data, a close or an error would reach a reader now (see async_wait_readable).
    bool tls_readable_now();

    // async_read_some over TLS: what OpenSSL can decrypt from the inbox now, else Asio's
    // read of the socket into the inbox and again. The handler's allocator serves the read.
    template <class Handler>
    void tls_read_some(asio::mutable_buffer buffer, Handler handler) {
        const auto read = tls_read(static_cast<std::uint8_t*>(buffer.data()), buffer.size());
        if (read.status != Io::would_block) {
            const auto ec = read.status == Io::done ? boost::system::error_code{} : tls_closed_code();
            asio::post(socket_.get_executor(), asio::append(std::move(handler), ec, read.bytes));
            return;
        }
        auto allocator = asio::get_associated_allocator(handler);
        if (tls_wants_write()) {
            socket_.async_wait(Socket::wait_write,
                               asio::bind_allocator(allocator, [this, buffer, handler = std::move(handler)](
                                                                   const boost::system::error_code& ec) mutable {
                                   if (ec) return std::move(handler)(ec, std::size_t{0});
                                   tls_read_some(buffer, std::move(handler));
                               }));
            return;
        }
        tls_bio_->set_reading(true);
        socket_.async_read_some(tls_bio_->space(), asio::bind_allocator(allocator, [this, buffer, handler = std::move(handler)](
                                                                                      const boost::system::error_code& ec,
                                                                                      std::size_t bytes) mutable {
            // Cancelled, or the socket closed: the Transport may be gone, and cancel() and
            // close() took the buffer back.
            if (ec == asio::error::operation_aborted) return std::move(handler)(ec, std::size_t{0});
            tls_bio_->set_reading(false);
            tls_bio_->filled(bytes);
            if (ec) tls_bio_->set_end();  // OpenSSL reads EOF next and says how the stream ended
            tls_read_some(buffer, std::move(handler));
        }));
    }

    Socket socket_;
    std::unique_ptr<TlsBio> tls_bio_;  // OpenSSL's BIO points to it: outlives ssl_
    std::unique_ptr<SSL, SslFree> ssl_;  // null: plain
};

}  // namespace pgsluice::proxy
