// The Transport's TLS side over a socket pair, with a certificate made in memory: the
// handshake both ways, the same non-blocking and coroutine calls as a plain socket, the
// quick path's read with a handler, and an idle connection judged alive although TLS 1.3
// sent it session tickets after the handshake; OpenSSL's record buffers kept by a busy
// connection and given back by an idle one.
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/io/transport.hpp"
#include "tests/unit/proxy/openssl_allocations.hpp"

using namespace pgsluice::proxy;

namespace {
struct Contexts {
    SSL_CTX* server = nullptr;
    SSL_CTX* client = nullptr;
    Contexts() {
        EVP_PKEY* key = EVP_EC_gen("P-256");
        REQUIRE(key);
        X509* cert = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        auto* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
        server = SSL_CTX_new(TLS_server_method());
        REQUIRE(SSL_CTX_use_certificate(server, cert) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(server, key) == 1);
        client = SSL_CTX_new(TLS_client_method());
        X509_STORE_add_cert(SSL_CTX_get_cert_store(client), cert);  // trust it: verify-full
        SSL_CTX_set_verify(client, SSL_VERIFY_PEER, nullptr);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    ~Contexts() {
        SSL_CTX_free(server);
        SSL_CTX_free(client);
    }
};

struct Pair {
    asio::io_context io;
    Transport server{Socket(io.get_executor())};
    Transport client{Socket(io.get_executor())};
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        const asio::generic::stream_protocol unix_stream(AF_UNIX, SOCK_STREAM);
        server = Transport(Socket(io.get_executor(), unix_stream, fds[0]));
        client = Transport(Socket(io.get_executor(), unix_stream, fds[1]));
    }
    // Both handshakes; what the client's failed with, if it did.
    std::string handshake(Contexts& contexts, const std::string& host) {
        std::string client_error, server_error;
        asio::co_spawn(io, server.start_tls_server(contexts.server), [&](std::exception_ptr e) {
            if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { server_error = x.what(); }
        });
        asio::co_spawn(io, client.start_tls_client(contexts.client, host), [&](std::exception_ptr e) {
            if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { client_error = x.what(); }
        });
        io.run_for(std::chrono::seconds(10));
        io.restart();
        return client_error;
    }
};
}  // namespace

TEST_CASE("a TLS Transport carries bytes both ways through the non-blocking and the coroutine calls", "[unit][tls]") {
    Contexts contexts;
    Pair pair;
    REQUIRE(pair.handshake(contexts, "localhost").empty());
    CHECK(pair.server.is_tls());
    CHECK(pair.client.is_tls());

    const std::string hello = "hello through TLS";
    REQUIRE(pair.client.write_now(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()).status ==
            Transport::Io::done);
    // The quick path's read with a handler: the data is decrypted and handed over.
    std::string got(64, '\0');
    std::size_t got_size = 0;
    pair.server.async_read_some(asio::buffer(got), [&](const boost::system::error_code& ec, std::size_t n) {
        CHECK(!ec);
        got_size = n;
    });
    pair.io.run_for(std::chrono::seconds(10));
    pair.io.restart();
    CHECK(got.substr(0, got_size) == hello);

    // The coroutine calls: a large write read back whole.
    const std::string big(300 * 1024, 'x');
    std::string echoed(big.size(), '\0');
    asio::co_spawn(pair.io, pair.server.write_all(big), asio::detached);
    asio::co_spawn(pair.io, pair.client.read_exactly(asio::buffer(echoed)), asio::detached);
    pair.io.run_for(std::chrono::seconds(10));
    pair.io.restart();
    CHECK(echoed == big);

    // Idle, both ends: nothing unread (the session tickets TLS 1.3 sent are not data).
    CHECK(!pair.client.has_unread_input_or_eof());
    CHECK(!pair.server.has_unread_input_or_eof());
    std::uint8_t byte;
    CHECK(pair.server.read_now(&byte, 1).status == Transport::Io::would_block);

    // A close is seen as the end of the stream.
    pair.client.close();
    CHECK(pair.server.has_unread_input_or_eof());
    CHECK(pair.server.read_now(&byte, 1).status == Transport::Io::closed);
}

TEST_CASE("a TLS client refuses a certificate for another host name", "[unit][tls]") {
    Contexts contexts;
    Pair pair;
    const auto error = pair.handshake(contexts, "db.example.com");
    CHECK(error.find("certificate") != std::string::npos);
    CHECK(!error.empty());
}

namespace {
// A server and a client Transport whose bytes pass through the test: each end has a socket
// pair of its own, and the test moves the ciphertext between them, whole or in pieces.
struct Relayed {
    asio::io_context io;
    Transport server{Socket(io.get_executor())};
    Transport client{Socket(io.get_executor())};
    int to_server = -1;  // the test's end of the server's socket pair
    int to_client = -1;
    Relayed() {
        int s[2], c[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c) == 0);
        const asio::generic::stream_protocol unix_stream(AF_UNIX, SOCK_STREAM);
        server = Transport(Socket(io.get_executor(), unix_stream, s[0]));
        client = Transport(Socket(io.get_executor(), unix_stream, c[0]));
        to_server = s[1];
        to_client = c[1];
    }
    ~Relayed() {
        ::close(to_server);
        ::close(to_client);
    }
    static std::string take(int fd) {
        std::string bytes;
        char chunk[4096];
        ssize_t n;
        while ((n = ::read(fd, chunk, sizeof chunk)) > 0) bytes.append(chunk, static_cast<std::size_t>(n));
        return bytes;
    }
    static void give(int fd, std::string_view bytes) {
        REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    }
    // Runs what is ready, then moves what each side sent to the other, until `done`.
    template <class Done>
    bool run_until(Done done) {
        for (int round = 0; round < 10'000 && !done(); ++round) {
            io.poll();
            io.restart();
            give(to_server, take(to_client));
            give(to_client, take(to_server));
        }
        return done();
    }
    void handshake(Contexts& contexts) {
        const std::string host = "localhost";  // outlives the coroutine, which keeps a reference
        bool server_done = false, client_done = false;
        asio::co_spawn(io, server.start_tls_server(contexts.server), [&](std::exception_ptr e) {
            CHECK(!e);
            server_done = true;
        });
        asio::co_spawn(io, client.start_tls_client(contexts.client, host), [&](std::exception_ptr e) {
            CHECK(!e);
            client_done = true;
        });
        REQUIRE(run_until([&] { return server_done && client_done; }));
        io.poll();
        io.restart();
        take(to_server);  // TLS 1.3's session tickets for the client: not needed here
    }
    // The ciphertext of one message the client sends (one TLS record).
    std::string record_of(const std::string& text) {
        REQUIRE(client.write_now(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()).status ==
                Transport::Io::done);
        return take(to_client);
    }
    void poll() {
        io.poll();
        io.restart();
    }
};
}  // namespace

TEST_CASE("TLS records that arrive in pieces or together are read whole, and a wait does not spin on half a record",
          "[unit][tls]") {
    Contexts contexts;
    Relayed pair;
    pair.handshake(contexts);
    const auto first = pair.record_of("the first message");
    const auto second = pair.record_of("the second message");
    const auto third = pair.record_of("the third message");
    REQUIRE(first.size() > 20);

    // The quick path's read, pending while the first record comes a byte at a time: it
    // completes only with the record's last byte, which comes with the whole second record.
    std::string got(64, '\0');
    std::size_t got_size = 0;
    bool read_done = false;
    pair.server.async_read_some(asio::buffer(got), [&](const boost::system::error_code& ec, std::size_t n) {
        CHECK(!ec);
        got_size = n;
        read_done = true;
    });
    for (std::size_t i = 0; i + 1 < first.size(); ++i) {
        Relayed::give(pair.to_server, first.substr(i, 1));
        pair.poll();
        REQUIRE(!read_done);
    }
    Relayed::give(pair.to_server, first.substr(first.size() - 1) + second);
    pair.poll();
    REQUIRE(read_done);
    CHECK(got.substr(0, got_size) == "the first message");

    // The second record came in the same read and waits in the Transport, where the socket
    // will never become readable for it: a wait for readability ends at once.
    bool readable = false;
    pair.server.async_wait_readable([&](const boost::system::error_code& ec) {
        CHECK(!ec);
        readable = true;
    });
    pair.poll();
    REQUIRE(readable);
    std::uint8_t buffer[64];
    auto read = pair.server.read_now(buffer, sizeof buffer);
    REQUIRE(read.status == Transport::Io::done);
    CHECK(std::string(reinterpret_cast<char*>(buffer), read.bytes) == "the second message");

    // Half a record, read into the Transport (OpenSSL holds it, waiting for the rest): a
    // wait for readability goes on, where it would spin if half a record counted; the rest
    // of the record ends it.
    Relayed::give(pair.to_server, third.substr(0, third.size() / 2));
    pair.poll();
    CHECK(pair.server.read_now(buffer, sizeof buffer).status == Transport::Io::would_block);
    readable = false;
    pair.server.async_wait_readable([&](const boost::system::error_code& ec) {
        CHECK(!ec);
        readable = true;
    });
    pair.poll();
    CHECK(!readable);
    Relayed::give(pair.to_server, third.substr(third.size() / 2));
    pair.poll();
    CHECK(readable);
    read = pair.server.read_now(buffer, sizeof buffer);
    REQUIRE(read.status == Transport::Io::done);
    CHECK(std::string(reinterpret_cast<char*>(buffer), read.bytes) == "the third message");
}

namespace {
// One statement's round trip as the quick path makes it: the client writes, the server reads
// with a handler and answers, the client reads the answer.
bool round_trip(Pair& pair, const std::string& text) {
    std::string got(text.size(), '\0'), answer(text.size(), '\0');
    auto bytes = [](const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); };
    if (pair.client.write_now(bytes(text), text.size()).status != Transport::Io::done) return false;
    std::size_t got_size = 0, answer_size = 0;
    pair.server.async_read_some(asio::buffer(got), [&](const boost::system::error_code& ec, std::size_t n) {
        if (ec) return;
        got_size = n;
        if (pair.server.write_now(bytes(got), n).status != Transport::Io::done) return;
        pair.client.async_read_some(asio::buffer(answer),
                                    [&](const boost::system::error_code& e, std::size_t m) { answer_size = e ? 0 : m; });
    });
    pair.io.run_for(std::chrono::seconds(10));
    pair.io.restart();
    return got_size == text.size() && answer.substr(0, answer_size) == text;
}
}  // namespace

TEST_CASE("a busy TLS connection keeps OpenSSL's record buffers and an idle one gives them back",
          "[unit][tls]") {
    // What an idle TLS client costs: OpenSSL's read and write buffers are about 34 KB, twenty
    // times what the rest of an idle client takes.
    REQUIRE(pgsluice::test::openssl_allocations_counted());
    using pgsluice::test::openssl_live_bytes;
    Contexts contexts;
    Pair pair;
    REQUIRE(pair.handshake(contexts, "localhost").empty());
    const std::string statement = "SELECT 1";
    const std::size_t one_buffer = 16 * 1024;  // a buffer holds a whole record: 16 KB and more

    // Fresh from its handshake, a connection holds none: giving them back frees nothing.
    const std::size_t logged_in = openssl_live_bytes();
    pair.server.release_tls_buffers();
    CHECK(openssl_live_bytes() == logged_in);

    // A client that starts a transaction keeps its buffers from one statement to the next.
    pair.server.keep_tls_buffers();
    pair.client.keep_tls_buffers();
    REQUIRE(round_trip(pair, statement));
    const std::size_t busy = openssl_live_bytes();
    const std::size_t buffers_made = pgsluice::test::openssl_buffer_allocations();
    REQUIRE(round_trip(pair, statement));
    CHECK(pgsluice::test::openssl_buffer_allocations() == buffers_made);  // no buffer made for a statement
    CHECK(openssl_live_bytes() == busy);

    // Idle (parked): both buffers go back.
    pair.server.release_tls_buffers();
    const std::size_t idle = openssl_live_bytes();
    CHECK(busy >= idle + 2 * one_buffer);

    // A statement from an idle client borrows buffers and gives them back when they empty.
    REQUIRE(round_trip(pair, statement));
    CHECK(openssl_live_bytes() < idle + one_buffer);
}
