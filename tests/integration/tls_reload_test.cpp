// Certificates are read again at every reload: a key that fails to load fails the reload and
// the old contexts keep serving; a rotated certificate at the same path is taken in; no
// client is dropped either way.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;

TEST_CASE("a certificate that fails to load fails the reload and the old one keeps serving", "[integration][tls][reload]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    const auto config = [&](const std::string& key) {
        return "client_tls_sslmode: prefer\nclient_tls_cert_file: " + pki.cert("server") + "\nclient_tls_key_file: " +
               key + "\n" + Pgsluice::basic_config("transaction", 2);
    };
    Pgsluice proxy(postgres, config(pki.key("server")));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");

    proxy.write_config(config(pki.path("missing.key")));
    CHECK_FALSE(proxy.reload());
    CHECK(proxy.wait_for_log("client_tls_key_file " + pki.path("missing.key") + ": cannot read"));
    CHECK(client.scalar("select 2") == "2");

    // Rotation: a new certificate and key at the same paths.
    pki.issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    proxy.write_config(config(pki.key("server")));
    CHECK(proxy.reload());
    CHECK(client.scalar("select 3") == "3");
    Connection fresh(proxy.conninfo());
    CHECK(fresh.scalar("select 4") == "4");
}
