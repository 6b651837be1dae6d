// TLS contexts from real files (a CA and certificates made with the openssl command): good
// files load, each bad one is named with OpenSSL's reason, verify-full checks the host name
// in a real handshake, and tls-server-end-point is the hash the RFC asks for.
#include <catch2/catch.hpp>

#include <fstream>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "config/loader.hpp"
#include "protocol/auth/channel_binding.hpp"
#include "proxy/tls/tls_context.hpp"
#include "proxy/tls/tls_contexts.hpp"
#include "proxy/tls/tls_policy.hpp"
#include "tests/support/test_pki.hpp"

using namespace pgsluice;
using pgsluice::test::TestPki;

namespace {

config::ClientTls client_tls(const TestPki& pki) {
    config::ClientTls tls;
    tls.sslmode = config::TlsMode::require;
    tls.cert_file = pki.cert("server");
    tls.key_file = pki.key("server");
    return tls;
}

// The DER bytes of a PEM certificate file, through the openssl command.
std::string der_of(const TestPki& pki, const std::string& name) {
    TestPki::run("openssl x509 -in " + pki.cert(name) + " -outform DER -out " + pki.path(name + ".der"));
    return TestPki::read(pki.path(name + ".der"));
}

std::string digest_of(const TestPki& pki, const std::string& name, const std::string& digest) {
    der_of(pki, name);
    TestPki::run("openssl dgst -" + digest + " -binary -out " + pki.path(name + ".hash") + " " + pki.path(name + ".der"));
    return TestPki::read(pki.path(name + ".hash"));
}

// A handshake between two SSL objects over memory BIOs; true when both ends finish.
// `client_cn`: set to what the server end sees of the client's certificate.
bool handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, config::TlsMode mode, const std::string& host,
               std::optional<std::string>* client_cn = nullptr) {
    SSL* server = SSL_new(server_ctx);
    SSL* client = SSL_new(client_ctx);
    BIO *server_end = nullptr, *client_end = nullptr;
    BIO_new_bio_pair(&server_end, 0, &client_end, 0);
    SSL_set_bio(server, server_end, server_end);
    SSL_set_bio(client, client_end, client_end);
    SSL_set_accept_state(server);
    SSL_set_connect_state(client);
    REQUIRE(proxy::tls::prepare_server_connection(client, mode, host).empty());
    bool server_done = false, client_done = false, failed = false;
    for (int round = 0; round < 20 && !(server_done && client_done) && !failed; ++round) {
        if (!client_done) {
            const int rc = SSL_do_handshake(client);
            if (rc == 1) client_done = true;
            else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ) failed = true;
        }
        if (!server_done) {
            const int rc = SSL_do_handshake(server);
            if (rc == 1) server_done = true;
            else if (SSL_get_error(server, rc) != SSL_ERROR_WANT_READ) failed = true;
        }
    }
    if (client_cn) *client_cn = proxy::tls::verified_client_common_name(server);
    SSL_free(server);
    SSL_free(client);
    proxy::tls::openssl_errors();  // clears the queue for the next test
    return server_done && client_done && !failed;
}

config::ServerTls server_tls(const TestPki& pki, config::TlsMode mode) {
    config::ServerTls tls;
    tls.sslmode = mode;
    tls.ca_file = pki.ca();
    return tls;
}

}  // namespace

TEST_CASE("a client-facing context loads a good certificate and key", "[tls]") {
    TestPki pki;
    auto built = proxy::tls::make_client_facing(client_tls(pki));
    INFO(built.error);
    REQUIRE(built.value);
    CHECK(built.value->context);
    CHECK(SSL_CTX_get_mode(built.value->context.get()) & SSL_MODE_RELEASE_BUFFERS);
    CHECK(SSL_CTX_get_min_proto_version(built.value->context.get()) == TLS1_2_VERSION);
    CHECK(built.value->end_point == digest_of(pki, "server", "sha256"));
}

TEST_CASE("a missing or wrong TLS file is an error naming the file and the reason", "[tls]") {
    TestPki pki;
    auto tls = client_tls(pki);
    tls.cert_file = pki.path("nowhere.crt");
    auto missing = proxy::tls::make_client_facing(tls);
    CHECK_FALSE(missing.value);
    CHECK(missing.error == "client_tls_cert_file " + pki.path("nowhere.crt") + ": cannot read: No such file or directory");

    tls = client_tls(pki);
    std::ofstream(pki.path("garbage.crt")) << "not a certificate\n";
    tls.cert_file = pki.path("garbage.crt");
    auto garbage = proxy::tls::make_client_facing(tls);
    CHECK_THAT(garbage.error, Catch::StartsWith("client_tls_cert_file " + pki.path("garbage.crt") +
                                                ": cannot load certificate: error:"));

    pki.issue("other", "other");
    tls = client_tls(pki);
    tls.key_file = pki.key("other");
    auto mismatch = proxy::tls::make_client_facing(tls);
    CHECK_THAT(mismatch.error, Catch::StartsWith("client_tls_key_file " + pki.key("other") + " does not match"));

    tls = client_tls(pki);
    tls.ca_file = pki.path("no-ca.crt");
    CHECK_THAT(proxy::tls::make_client_facing(tls).error, Catch::StartsWith("client_tls_ca_file"));

    tls = client_tls(pki);
    tls.ciphers = "NO-SUCH-CIPHER";
    CHECK_THAT(proxy::tls::make_client_facing(tls).error, Catch::StartsWith("client_tls_ciphers 'NO-SUCH-CIPHER'"));
}

TEST_CASE("verify-full accepts the right host name and address and refuses a wrong one", "[tls]") {
    TestPki pki;
    auto facing = proxy::tls::make_client_facing(client_tls(pki));
    REQUIRE(facing.value);
    auto full = proxy::tls::make_server_facing(server_tls(pki, config::TlsMode::verify_full), "server_tls");
    INFO(full.error);
    REQUIRE(full.context);
    SSL_CTX* server_ctx = facing.value->context.get();
    CHECK(handshake(server_ctx, full.context.get(), config::TlsMode::verify_full, "localhost"));
    CHECK(handshake(server_ctx, full.context.get(), config::TlsMode::verify_full, "127.0.0.1"));
    CHECK_FALSE(handshake(server_ctx, full.context.get(), config::TlsMode::verify_full, "db.example.com"));
    CHECK_FALSE(handshake(server_ctx, full.context.get(), config::TlsMode::verify_full, "127.0.0.2"));
    // verify-ca checks the chain only.
    auto ca_only = proxy::tls::make_server_facing(server_tls(pki, config::TlsMode::verify_ca), "server_tls");
    REQUIRE(ca_only.context);
    CHECK(handshake(server_ctx, ca_only.context.get(), config::TlsMode::verify_ca, "db.example.com"));
}

TEST_CASE("verify-ca refuses a server certificate from another CA, require does not check", "[tls]") {
    TestPki pki;
    TestPki other("other-pki");
    auto facing = proxy::tls::make_client_facing(client_tls(other));
    REQUIRE(facing.value);
    auto verify = proxy::tls::make_server_facing(server_tls(pki, config::TlsMode::verify_ca), "server_tls");
    REQUIRE(verify.context);
    CHECK_FALSE(handshake(facing.value->context.get(), verify.context.get(), config::TlsMode::verify_ca, "localhost"));
    auto require = proxy::tls::make_server_facing(server_tls(pki, config::TlsMode::require), "server_tls");
    REQUIRE(require.context);
    CHECK(handshake(facing.value->context.get(), require.context.get(), config::TlsMode::require, "localhost"));
}

TEST_CASE("client-facing verify-ca requires a client certificate from the CA", "[tls]") {
    TestPki pki;
    pki.issue("alice", "alice");
    auto tls = client_tls(pki);
    tls.sslmode = config::TlsMode::verify_ca;
    tls.ca_file = pki.ca();
    auto facing = proxy::tls::make_client_facing(tls);
    INFO(facing.error);
    REQUIRE(facing.value);
    auto anonymous = proxy::tls::make_server_facing(server_tls(pki, config::TlsMode::require), "server_tls");
    CHECK_FALSE(handshake(facing.value->context.get(), anonymous.context.get(), config::TlsMode::require, "localhost"));
    auto with_cert = server_tls(pki, config::TlsMode::require);
    with_cert.cert_file = pki.cert("alice");
    with_cert.key_file = pki.key("alice");
    auto alice = proxy::tls::make_server_facing(with_cert, "server_tls");
    INFO(alice.error);
    REQUIRE(alice.context);
    std::optional<std::string> seen;
    CHECK(handshake(facing.value->context.get(), alice.context.get(), config::TlsMode::require, "localhost", &seen));
    CHECK(seen == "alice");
}

TEST_CASE("a config's TLS contexts load together, and every bad file is reported", "[tls]") {
    TestPki pki;
    const std::string yaml = "client_tls_sslmode: require\nclient_tls_cert_file: " + pki.cert("server") +
                             "\nclient_tls_key_file: " + pki.key("server") +
                             "\nserver_tls_sslmode: verify-full\nserver_tls_ca_file: " + pki.ca() +
                             "\ndatabases:\n  a: {host: x}\n  b: {host: y}\n  c: {host: z, server_tls_sslmode: disable}\n"
                             "  d: {host: w, server_tls_ca_file: /missing/ca.crt}\n"
                             "users:\n  u: {password: p}\n";
    auto config = config::load_config(yaml, "t.yaml", config::SecretResolver{});
    REQUIRE(config.ok());
    auto loaded = proxy::tls::TlsContexts::load(*config.config);
    REQUIRE_FALSE(loaded.contexts);
    REQUIRE(loaded.errors.size() == 1);
    CHECK(loaded.errors[0] == "databases.d.server_tls_ca_file /missing/ca.crt: cannot read: No such file or directory");

    auto fixed = config::load_config(yaml.substr(0, yaml.find("  d: {")) + "users:\n  u: {password: p}\n", "t.yaml",
                                     config::SecretResolver{});
    REQUIRE(fixed.ok());
    auto good = proxy::tls::TlsContexts::load(*fixed.config);
    REQUIRE(good.contexts);
    CHECK(good.contexts->client_facing());
    CHECK(good.contexts->server_facing("a"));
    CHECK(good.contexts->server_facing("a") == good.contexts->server_facing("b"));  // same settings, one context
    CHECK_FALSE(good.contexts->server_facing("c"));
}

TEST_CASE("tls-server-end-point hashes the DER certificate with its signature's hash", "[tls][scram]") {
    TestPki pki;
    pki.issue("sha384", "sha384", {}, "sha384");
    auto sha256 = protocol::scram::tls_server_end_point(der_of(pki, "server"));
    REQUIRE(sha256);
    CHECK(sha256->size() == 32);
    CHECK(*sha256 == digest_of(pki, "server", "sha256"));
    auto sha384 = protocol::scram::tls_server_end_point(der_of(pki, "sha384"));
    REQUIRE(sha384);
    CHECK(*sha384 == digest_of(pki, "sha384", "sha384"));
    // RFC 5929: a certificate signed with SHA-1 is hashed with SHA-256.
    pki.issue("sha1", "sha1", {}, "sha1");
    auto sha1 = protocol::scram::tls_server_end_point(der_of(pki, "sha1"));
    REQUIRE(sha1);
    CHECK(*sha1 == digest_of(pki, "sha1", "sha256"));
    CHECK_FALSE(protocol::scram::tls_server_end_point("not DER"));
}

TEST_CASE("sslmodes mean PgBouncer's policy on each side", "[tls]") {
    using config::TlsMode;
    using proxy::tls::client_tls_policy;
    using proxy::tls::server_tls_policy;
    CHECK_FALSE(client_tls_policy(TlsMode::disable).accept_tls);
    CHECK(client_tls_policy(TlsMode::prefer).accept_tls);
    CHECK_FALSE(client_tls_policy(TlsMode::prefer).require_tls);
    CHECK(client_tls_policy(TlsMode::require).require_tls);
    CHECK_FALSE(client_tls_policy(TlsMode::require).require_client_certificate);
    CHECK(client_tls_policy(TlsMode::verify_full).require_client_certificate);
    CHECK_FALSE(server_tls_policy(TlsMode::disable).request_tls);
    CHECK(server_tls_policy(TlsMode::allow).request_tls);
    CHECK_FALSE(server_tls_policy(TlsMode::prefer).require_tls);
    CHECK(server_tls_policy(TlsMode::require).require_tls);
    CHECK_FALSE(server_tls_policy(TlsMode::require).verify_chain);
    CHECK(server_tls_policy(TlsMode::verify_ca).verify_chain);
    CHECK_FALSE(server_tls_policy(TlsMode::verify_ca).verify_host);
    CHECK(server_tls_policy(TlsMode::verify_full).verify_host);
}
