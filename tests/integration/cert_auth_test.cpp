// auth_type cert end to end with libpq: client_tls_ca_file makes pgsluice ask for a client
// certificate and verify it; a certificate whose CN is the user name logs in, another CN or
// no certificate is refused with 28000, a certificate from another CA fails the handshake.
// pgsluice then logs in to PostgreSQL with the user's configured password, as for any login.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;
using pgsluice::test::TestPki;

namespace {

std::string cert_config(const TestPki& pki, const std::string& sslmode, const std::string& extra = "") {
    return "client_tls_sslmode: " + sslmode + "\nclient_tls_cert_file: " + pki.cert("server") +
           "\nclient_tls_key_file: " + pki.key("server") + "\nclient_tls_ca_file: " + pki.ca() +
           "\nlimits: {auth_failure_delay: 0}\n" + extra +
           Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n") +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}, auth_type: cert}\n"
           "  other: {password: " + PostgresServer::kOtherPassword + "}\n";
}

// A TLS login as `user` presenting <name>.crt / <name>.key of `pki` (no certificate when
// `name` is empty). libpq reads the key only if no one else can.
std::string with_certificate(const Pgsluice& proxy, const TestPki& pki, const std::string& name,
                             const std::string& user = "app") {
    std::string conninfo = proxy.conninfo(user, "no-password-sent") + " sslmode=require";
    if (name.empty()) return conninfo + " sslcert=/nonexistent/none.crt sslkey=/nonexistent/none.key";
    return conninfo + " sslcert=" + pki.cert(name) + " sslkey=" + pki.key(name);
}

}  // namespace

TEST_CASE("auth_type cert logs in the user the certificate names and refuses any other", "[integration][tls][auth]") {
    PostgresServer postgres;
    TestPki pki;
    pki.issue("app", "app");
    pki.issue("bob", "bob");
    TestPki stranger("stranger-ca");  // a CA pgsluice does not trust, issuing CN=app
    stranger.issue("app", "app");
    Pgsluice proxy(postgres, cert_config(pki, "require"));

    SECTION("the certificate's CN is the user: in, and served by PostgreSQL") {
        Connection app(with_certificate(proxy, pki, "app"));
        CHECK(PQsslInUse(app.raw()) == 1);
        CHECK(app.scalar("select current_user") == "app");
        for (int i = 0; i < 20; ++i) CHECK(app.scalar("select " + std::to_string(i)) == std::to_string(i));
        CHECK(proxy.wait_for_log("login ok, user \"app\" database \"app\""));
    }
    SECTION("another CN: 28000, and the log says why") {
        const auto error = connect_error(with_certificate(proxy, pki, "bob"));
        INFO(error);
        CHECK(error.find("28000") != std::string::npos);
        CHECK(error.find("certificate authentication failed for user \"app\"") != std::string::npos);
        CHECK(proxy.wait_for_log("common name does not match"));
    }
    SECTION("no certificate: 28000") {
        const auto error = connect_error(with_certificate(proxy, pki, ""));
        INFO(error);
        CHECK(error.find("28000") != std::string::npos);
        CHECK(error.find("requires a valid client certificate") != std::string::npos);
    }
    SECTION("a certificate from a CA pgsluice does not trust: the handshake fails") {
        const auto error = connect_error(with_certificate(proxy, stranger, "app"));
        INFO(error);
        CHECK_FALSE(error.empty());
        CHECK(proxy.wait_for_log("TLS handshake failed"));
    }
    SECTION("without TLS: 28000 before any exchange") {
        const auto error = connect_error(proxy.conninfo("app", "no-password-sent"));
        INFO(error);
        CHECK(error.find("28000") != std::string::npos);
    }
    SECTION("a user with another method is not asked for a certificate it does not have") {
        Connection other(proxy.conninfo("other", PostgresServer::kOtherPassword) + " sslmode=require");
        CHECK(other.scalar("select 1") == "1");
    }
}

TEST_CASE("an access rule with method cert and client_tls_sslmode verify-full", "[integration][tls][auth]") {
    PostgresServer postgres;
    TestPki pki;
    pki.issue("app", "app");
    pki.issue("bob", "bob");
    const std::string rules = "hba:\n"
                              "  - {type: hostssl, database: all, user: app, address: 127.0.0.1/32, method: cert}\n"
                              "  - {type: host, database: all, user: all, address: all, method: reject}\n";
    Pgsluice proxy(postgres, cert_config(pki, "verify-full", rules));

    Connection app(with_certificate(proxy, pki, "app"));
    CHECK(app.scalar("select current_user") == "app");
    const auto wrong_cn = connect_error(with_certificate(proxy, pki, "bob"));
    INFO(wrong_cn);
    CHECK(wrong_cn.find("28000") != std::string::npos);
    // verify-full requires a certificate at the handshake itself.
    CHECK_FALSE(connect_error(with_certificate(proxy, pki, "")).empty());
    CHECK(proxy.wait_for_log("TLS handshake failed"));
}
