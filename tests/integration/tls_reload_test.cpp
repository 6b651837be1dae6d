// Certificates are read again at every reload: a key that fails to load fails the reload and
// the old contexts keep serving; a rotated certificate at the same path is taken in; no
// client is dropped either way, nor a transaction of pgbench over TLS. A reload that turns
// server-side TLS on replaces the plaintext servers.
#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/postgres_tls.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"
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

TEST_CASE("a reload that turns server_tls_sslmode on replaces the plaintext servers", "[integration][tls][reload]") {
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    enable_ssl(postgres, pki.cert("server"), pki.key("server"));
    const auto config = [&](const std::string& mode) {
        return "server_tls_sslmode: " + mode + "\nserver_tls_ca_file: " + pki.ca() + "\n" +
               Pgsluice::basic_config("transaction", 2);
    };
    const std::string on_tls = "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()";
    Pgsluice proxy(postgres, config("disable"));
    Connection client(proxy.conninfo());
    CHECK(client.scalar(on_tls) == "false");

    proxy.write_config(config("verify-full"));
    REQUIRE(proxy.reload());
    // The idle plaintext servers were closed at the reload: every transaction from now on
    // runs on a server reached over TLS.
    for (int i = 0; i < 10; ++i) CHECK(client.scalar(on_tls) == "true");
    Connection fresh(proxy.conninfo());
    CHECK(fresh.scalar(on_tls) == "true");

    // A reload that changes nothing keeps the servers it has (the contexts are new ones).
    const auto closed = proxy.log_count("server address or login changed by reload");
    CHECK(closed >= 1);
    REQUIRE(proxy.reload());
    CHECK(client.scalar(on_tls) == "true");
    CHECK(proxy.log_count("server address or login changed by reload") == closed);
}

TEST_CASE("certificates rotated under pgbench over TLS fail no transaction and new connections see the new one",
          "[integration][tls][reload][serial]") {
    PostgresServer postgres;
    // Each rotation's certificate comes from a CA of its own: a client that trusts only the
    // newest CA tells which certificate pgsluice presents.
    std::vector<std::unique_ptr<pgsluice::test::TestPki>> issuers;
    for (int i = 0; i < 4; ++i) issuers.push_back(std::make_unique<pgsluice::test::TestPki>("rotation"));
    TempDir dir("pgsluice-rotation");
    const std::string cert = dir.path() + "/server.crt";
    const std::string key = dir.path() + "/server.key";
    const auto install = [&](const pgsluice::test::TestPki& pki) {
        // Written beside, then renamed over, as a certificate manager does.
        write_file(cert + ".new", pgsluice::test::TestPki::read(pki.cert("server")));
        write_file(key + ".new", pgsluice::test::TestPki::read(pki.key("server")));
        std::rename((cert + ".new").c_str(), cert.c_str());
        std::rename((key + ".new").c_str(), key.c_str());
    };
    install(*issuers[0]);
    Pgsluice proxy(postgres, "client_tls_sslmode: require\nclient_tls_cert_file: " + cert + "\nclient_tls_key_file: " +
                                 key + "\n" + Pgsluice::basic_config("transaction", 4));
    const auto verified_by = [&](const pgsluice::test::TestPki& pki) {
        return connect_error(proxy.conninfo() + " sslmode=verify-full sslrootcert=" + pki.ca());
    };
    REQUIRE(verified_by(*issuers[0]).empty());

    const std::string script = dir.path() + "/tx.sql";
    write_file(script, "\\set n random(1, 1000)\nbegin;\nselect :n;\ncommit;\n");
    const std::vector<std::string> env = {std::string("PGPASSWORD=") + PostgresServer::kAppPassword, "PGSSLMODE=require"};
    const auto pgbench = [&](const std::string& name, std::vector<std::string> options) {
        std::vector<std::string> argv = {"/usr/lib/postgresql/15/bin/pgbench", "-n", "-T", "8", "-f", script, "-h",
                                         "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "app"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back("app");
        return std::make_unique<Process>(Process::Options{argv, dir.path() + "/" + name + ".out", "", env});
    };
    // Eight clients on TLS for the whole run, and two that open a new TLS connection for
    // every transaction, so handshakes go on while the certificate changes.
    auto steady = pgbench("steady", {"-c", "8", "-j", "2"});
    auto churn = pgbench("churn", {"-C", "-c", "2", "-j", "1"});
    const auto logins = [&] { return proxy.log_count("login ok, user \"app\""); };
    REQUIRE(wait_until([&] { return logins() >= 10; }));

    for (std::size_t round = 1; round < issuers.size(); ++round) {
        INFO("rotation " << round);
        install(*issuers[round]);
        REQUIRE(proxy.reload());
        CHECK(verified_by(*issuers[round]).empty());
        CHECK_FALSE(verified_by(*issuers[round - 1]).empty());
        // Some handshakes with the new certificate before the next rotation.
        const auto seen = logins();
        CHECK(wait_until([&] { return logins() >= seen + 20; }));
    }

    REQUIRE(wait_until([&] { return !steady->running() && !churn->running(); }, std::chrono::seconds(30)));
    for (const auto* name : {"steady", "churn"}) {
        const auto report = read_file(dir.path() + "/" + name + ".out");
        INFO(name << ": " << report);
        CHECK(report.find("number of failed transactions: 0 ") != std::string::npos);
        CHECK(report.find("aborted") == std::string::npos);
    }
    CHECK(steady->exit_code() == 0);
    CHECK(churn->exit_code() == 0);
    // Only the handshakes the checks above made fail on purpose (a client trusting the
    // previous CA hangs up on the new certificate).
    std::string failures;
    for (std::size_t at = 0; (at = proxy.log().find("TLS handshake failed", at)) != std::string::npos; ++at)
        failures += proxy.log().substr(at, proxy.log().find('\n', at) - at) + "\n";
    INFO(failures);
    CHECK(proxy.log_count("TLS handshake failed") == issuers.size() - 1);
    CHECK(proxy.log_count("alert unknown ca") == issuers.size() - 1);
    CHECK(proxy.log_count("config reloaded from") == issuers.size() - 1);
}
