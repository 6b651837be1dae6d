// TLS on both sides through the Transport: libpq clients with sslmode require, verify-ca and
// verify-full (right and wrong host name) and channel_binding=require; plaintext clients
// refused where TLS is required; a second SSLRequest and a handshake cut short end their
// connection cleanly while other clients go on; and PostgreSQL with ssl=on reached with
// server_tls_sslmode verify-full.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "harness/pgsluice_process.hpp"
#include "harness/cancel_sleep.hpp"
#include "harness/postgres_tls.hpp"
#include "harness/pq.hpp"
#include "harness/raw_socket.hpp"
#include "harness/wait.hpp"
#include "protocol/startup.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;

namespace {
std::string tls_config(const pgsluice::test::TestPki& pki, const std::string& mode) {
    return "client_tls_sslmode: " + mode + "\nclient_tls_cert_file: " + pki.cert("server") +
           "\nclient_tls_key_file: " + pki.key("server") + "\nclient_tls_ca_file: " + pki.ca() + "\n" +
           Pgsluice::basic_config("transaction", 2);
}
}  // namespace

TEST_CASE("libpq through TLS: require, verify-ca, verify-full and channel binding", "[integration][tls]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    Pgsluice proxy(postgres, tls_config(pki, "require"));
    const auto base = proxy.conninfo();

    Connection required(base + " sslmode=require");
    CHECK(required.scalar("select 'over tls'") == "over tls");
    CHECK(PQsslInUse(required.raw()) == 1);

    Connection verified(base + " sslmode=verify-full sslrootcert=" + pki.ca());
    CHECK(verified.scalar("select 2") == "2");
    Connection ca_only(base + " sslmode=verify-ca sslrootcert=" + pki.ca());
    CHECK(ca_only.scalar("select 3") == "3");

    // SCRAM-SHA-256-PLUS: libpq refuses to log in unless the exchange binds to the TLS channel.
    Connection bound(base + " sslmode=require channel_binding=require");
    CHECK(bound.scalar("select 4") == "4");

    // The certificate names localhost and 127.0.0.1, not this host name.
    CHECK_FALSE(Connection::try_connect(base + " hostaddr=127.0.0.1 host=wrong.example sslmode=verify-full sslrootcert=" +
                                        pki.ca()));

    // Plaintext where TLS is required: told why (28000), not left hanging.
    try {
        Connection plain(base);
        FAIL("a plaintext client was let in");
    } catch (const PgError& e) {
        CHECK(std::string(e.what()).find("SSL required") != std::string::npos);
    }
    CHECK(proxy.wait_for_log("requires TLS"));

    // Transactions keep flowing on the quick path, with many rows each way.
    for (int i = 0; i < 50; ++i)
        CHECK(required.scalar("select sum(g) from generate_series(1, 20000) g") == "200010000");
}

TEST_CASE("a second SSLRequest and a cut handshake close only their own connection", "[integration][tls]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    Pgsluice proxy(postgres, tls_config(pki, "prefer"));
    Connection bystander(proxy.conninfo() + " sslmode=require");

    {   // SSLRequest, 'S', then a handshake that stops after a few bytes.
        auto fd = connect_loopback_or_fail(proxy.port());
        send_all(fd, pgsluice::protocol::encode_ssl_request());
        send_all(fd, std::string("\x16\x03\x01", 3));  // the start of a TLS record, then nothing
        ::close(fd);
    }
    CHECK(proxy.wait_for_log("TLS handshake failed"));
    {   // Two SSLRequests in plaintext where TLS is off for this client: a clean refusal.
        Pgsluice plain_proxy(postgres, Pgsluice::basic_config("transaction", 1));
        auto fd = connect_loopback_or_fail(plain_proxy.port());
        send_all(fd, pgsluice::protocol::encode_ssl_request());
        send_all(fd, pgsluice::protocol::encode_ssl_request());
        const auto answer = read_until_close(fd);
        ::close(fd);
        REQUIRE(answer.size() > 1);
        CHECK(answer[0] == 'N');
        CHECK(answer.find("SSLRequest sent twice") != std::string::npos);
    }
    CHECK(bystander.scalar("select 'still here'") == "still here");
}

TEST_CASE("PostgreSQL with ssl=on reached with server_tls_sslmode verify-full", "[integration][tls]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    // PostgreSQL reads its key as its own user, and only from a file no one else can read.
    pgsluice::test::TestPki::run("chown postgres " + pki.key("server") + " " + pki.cert("server") + " && chmod 600 " +
                                 pki.key("server"));
    {
        Connection admin(postgres.superuser_conninfo());
        admin.exec("alter system set ssl_cert_file = '" + pki.cert("server") + "'");
        admin.exec("alter system set ssl_key_file = '" + pki.key("server") + "'");
        admin.exec("alter system set ssl = on");
        admin.exec("select pg_reload_conf()");
    }
    Pgsluice proxy(postgres, "server_tls_sslmode: verify-full\nserver_tls_ca_file: " + pki.ca() + "\n" +
                                 Pgsluice::basic_config("transaction", 2));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select ssl::text from pg_stat_ssl where pid = pg_backend_pid()") == "true");
    CHECK(client.scalar("select version from pg_stat_ssl where pid = pg_backend_pid()").starts_with("TLSv1."));
    for (int i = 0; i < 20; ++i) CHECK(client.scalar("select " + std::to_string(i)) == std::to_string(i));
}

// PostgreSQL takes a CancelRequest before any pg_hba.conf rule (it names a backend by its
// secret key, not a user), so pgsluice sends it in plaintext even where every login must
// use TLS, as libpq does; this shows a server that refuses plaintext logins still gets it.
TEST_CASE("a query on a server that refuses plaintext logins is cancelled through pgsluice", "[integration][tls]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    enable_ssl(postgres, pki.cert("server"), pki.key("server"));
    prepend_hba(postgres, "hostnossl all all all reject");
    const std::string plaintext = "host=127.0.0.1 port=" + std::to_string(postgres.port()) +
                                  " dbname=app user=app sslmode=disable password=" + PostgresServer::kAppPassword;
    REQUIRE(wait_until([&] { return !Connection::try_connect(plaintext); }));
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, "server_tls_sslmode: verify-full\nserver_tls_ca_file: " + pki.ca() + "\n" +
                                 Pgsluice::basic_config(mode, 2));
    Connection client(proxy.conninfo());
    CHECK(cancel_sleep(client, postgres) == "57014");  // query_canceled
    CHECK(client.scalar("select 'after the cancel'") == "after the cancel");
}
