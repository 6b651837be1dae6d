// The Transport's TLS side over a socket pair, with a certificate made in memory: the
// handshake both ways, the same non-blocking and coroutine calls as a plain socket, the
// quick path's read with a handler, and an idle connection judged alive although TLS 1.3
// sent it session tickets after the handshake.
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "proxy/io/transport.hpp"

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
