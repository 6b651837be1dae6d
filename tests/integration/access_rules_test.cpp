// Who gets in: access rules (hba) by address, user and TLS; auth_type per user and per
// database; plain refused without TLS; a failed login's delay and its per-user counter;
// admin.stats_users limited to SHOW; `pgsluice check` reading the TLS files.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <tuple>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/raw_socket.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/messages.hpp"
#include "protocol/startup.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;
namespace protocol = pgsluice::protocol;

namespace {

std::string config_with(const std::string& top) {
    return Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n") + top +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

std::string socket_conninfo(const Pgsluice& proxy, const std::string& user, const std::string& password) {
    return "host=" + proxy.socket_dir() + " port=" + std::to_string(proxy.port()) + " dbname=app user=" + user +
           " password=" + password + " connect_timeout=10";
}

// The error text of a refused libpq login.
std::string login_error(const std::string& conninfo) {
    try {
        Connection connection(conninfo);
    } catch (const PgError& e) {
        return e.what();
    }
    return "";
}

// Reads one message; REQUIREs it arrives.
std::pair<char, std::string> read_message(int fd) {
    std::string header(5, '\0');
    REQUIRE(recv(fd, header.data(), 5, MSG_WAITALL) == 5);
    const auto length = protocol::read_u32(reinterpret_cast<const std::uint8_t*>(header.data()) + 1);
    REQUIRE(length >= 4);
    std::string body(length - 4, '\0');
    if (!body.empty()) REQUIRE(recv(fd, body.data(), body.size(), MSG_WAITALL) == ssize_t(body.size()));
    return {header[0], body};
}

// "s=<salt>,i=<iterations>" of the SCRAM challenge pgsluice sends `user`.
std::string salt_and_iterations(int port, const std::string& user) {
    const int fd = connect_loopback_or_fail(port);
    const std::string startup = protocol::encode_startup_message({{"user", user}, {"database", "app"}});
    send_all(fd, startup);
    auto [type, body] = read_message(fd);
    REQUIRE(type == 'R');
    std::string initial;
    protocol::append_sasl_initial_response(initial, protocol::scram::kMechanism, "n,,n=,r=clientnonce");
    send_all(fd, initial);
    std::tie(type, body) = read_message(fd);
    close(fd);
    REQUIRE(type == 'R');
    const auto at = body.find(",s=");
    REQUIRE(at != std::string::npos);
    return body.substr(at + 1);
}

}  // namespace

TEST_CASE("access rules allow and deny by address, user and connection type, first match wins", "[integration][auth]") {
    PostgresServer postgres;
    const std::string rules =
        "limits: {auth_failure_delay: 0}\n"
        "hba:\n"
        "  - {type: host, database: all, user: mallory, address: all, method: reject}\n"
        "  - {type: host, database: all, user: all, address: 10.0.0.0/8, method: trust}\n"
        "  - {type: host, database: all, user: all, address: 127.0.0.0/8, method: scram-sha-256}\n"
        "  - {type: local, database: all, user: all, method: md5}\n";
    Pgsluice proxy(postgres, config_with(rules));
    // 127.0.0.1 matches the third rule: SCRAM with the right password, 28P01 with a wrong one.
    CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    CHECK(login_error_sqlstate(proxy.port(), "app", "wrong", "app") == "28P01");
    // The first rule rejects mallory before the others are looked at.
    CHECK(login_error_sqlstate(proxy.port(), "mallory", "x", "app") == "28000");
    CHECK(login_error(proxy.conninfo("mallory", "x")).find("access rules reject user \"mallory\"") != std::string::npos);
    // The Unix socket matches the local rule: MD5.
    Connection local(socket_conninfo(proxy, "app", PostgresServer::kAppPassword));
    CHECK(local.scalar("select 1") == "1");
}

TEST_CASE("a client no rule matches is refused with 28000 naming no secret", "[integration][auth]") {
    PostgresServer postgres;
    SECTION("an address outside every range") {
        Pgsluice proxy(postgres, config_with("hba:\n  - {type: host, database: all, user: all, address: 10.0.0.0/8, "
                                             "method: trust}\n"));
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "28000");
        const auto error = login_error(proxy.conninfo());
        CHECK(error.find("no access rule allows user \"app\" to connect to database \"app\" from 127.0.0.1 without TLS") !=
              std::string::npos);
        CHECK(error.find(PostgresServer::kAppPassword) == std::string::npos);
    }
    SECTION("a rule for TLS connections only, and a client without TLS") {
        Pgsluice proxy(postgres, config_with("hba:\n  - {type: hostssl, database: all, user: all, address: all, "
                                             "method: scram-sha-256}\n"));
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "28000");
    }
    SECTION("another database") {
        Pgsluice proxy(postgres, config_with("hba:\n  - {type: host, database: reports, user: all, address: all, "
                                             "method: trust}\n"));
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "28000");
    }
}

TEST_CASE("auth_type per user overrides the database's and the top level's", "[integration][auth]") {
    PostgresServer postgres;
    std::string config = config_with("auth_type: reject\n");
    config.replace(config.find("  app: {host"), 8, "  app: {auth_type: md5, ");
    config += "  kiosk: {auth_type: trust}\n";
    Pgsluice proxy(postgres, config);
    // app: the database says md5 (the top level's reject is overridden).
    CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    // kiosk: its own trust; the server login then fails (no such role), not the client's.
    CHECK(login_error_sqlstate(proxy.port(), "kiosk", "", "app") != "28P01");
    CHECK(login_error_sqlstate(proxy.port(), "kiosk", "", "app") != "28000");
}

TEST_CASE("plain is refused without TLS unless allow_plain_without_tls", "[integration][auth]") {
    PostgresServer postgres;
    SECTION("refused") {
        Pgsluice proxy(postgres, config_with("auth_type: plain\n"));
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "28000");
        CHECK(login_error(proxy.conninfo()).find("clear text needs a TLS connection") != std::string::npos);
    }
    SECTION("allowed") {
        Pgsluice proxy(postgres, config_with("auth_type: plain\nallow_plain_without_tls: true\n"));
        CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    }
}

TEST_CASE("a failed login waits auth_failure_delay and is counted per user, unknown names sharing one label",
          "[integration][auth]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(config_with("limits: {auth_failure_delay: 600ms}\n")));
    auto started = std::chrono::steady_clock::now();
    CHECK(login_error_sqlstate(proxy.port(), "app", "wrong", "app") == "28P01");
    CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(600));
    // Another client logs in meanwhile without waiting: the delay is a timer, not a stalled worker.
    started = std::chrono::steady_clock::now();
    CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(600));
    CHECK(login_error_sqlstate(proxy.port(), "nobody-1", "x", "app") == "28P01");
    CHECK(login_error_sqlstate(proxy.port(), "nobody-2", "x", "app") == "28P01");
    const auto metrics = http_get(proxy.metrics_port(), "/metrics").body;
    CHECK(sample(metrics, "pgsluice_client_login_failures_total", {"user=\"app\""}) == 1);
    CHECK(sample(metrics, "pgsluice_client_login_failures_total", {"user=\"(unknown)\""}) == 2);
    CHECK(metrics.find("nobody") == std::string::npos);
}

TEST_CASE("an unknown user's SCRAM challenge looks like a real one and stays the same", "[integration][auth]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config_with("limits: {auth_failure_delay: 0}\n"));
    const auto ghost = salt_and_iterations(proxy.port(), "ghost");
    CHECK(ghost == salt_and_iterations(proxy.port(), "ghost"));
    CHECK(ghost != salt_and_iterations(proxy.port(), "phantom"));
    // Shaped like a configured user's: a 16-byte salt (24 base64 characters) and 4096 rounds.
    const auto real = salt_and_iterations(proxy.port(), "app");
    CHECK(ghost.size() == real.size());
    CHECK(ghost.ends_with(",i=4096"));
    CHECK(real.ends_with(",i=4096"));
    CHECK(login_error(proxy.conninfo("ghost", "x")).find("password authentication failed for user \"ghost\"") !=
          std::string::npos);
}

TEST_CASE("stats_users may run SHOW commands and nothing else", "[integration][auth][admin]") {
    PostgresServer postgres;
    std::string config = config_with("admin: {users: [app], stats_users: [watcher]}\n");
    config += "  watcher: {password: watcher-pw}\n";
    Pgsluice proxy(postgres, config);
    Connection watcher("host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                       " dbname=pgbouncer user=watcher password=watcher-pw connect_timeout=10 sslmode=disable");
    CHECK_NOTHROW(watcher.query("SHOW POOLS"));
    CHECK_FALSE(watcher.query("SHOW VERSION").empty());
    for (const char* command : {"PAUSE", "RELOAD", "SHUTDOWN", "KILL app", "RECONNECT"}) {
        INFO(command);
        try {
            watcher.query(command);
            FAIL("the command ran");
        } catch (const PgError& e) {
            CHECK(e.sqlstate == "42501");
        }
    }
    // The console goes on after a refusal, and the process was not shut down.
    CHECK_FALSE(watcher.query("SHOW CLIENTS").empty());
    CHECK(proxy.running());
    // admin.users still run everything.
    Connection admin("host=127.0.0.1 port=" + std::to_string(proxy.port()) + " dbname=pgbouncer user=app password=" +
                     PostgresServer::kAppPassword + " connect_timeout=10 sslmode=disable");
    CHECK_NOTHROW(admin.query("RELOAD"));
}

TEST_CASE("pgsluice check loads the TLS files and names the one that fails", "[integration][auth][tls]") {
    pgsluice::test::TestPki pki;
    TempDir dir("check-tls");
    const std::string good = "client_tls_sslmode: require\nclient_tls_cert_file: " + pki.cert("server") +
                             "\nclient_tls_key_file: " + pki.key("server") +
                             "\ndatabases:\n  app: {host: 127.0.0.1}\nusers:\n  app: {password: {env: HOME}}\n";
    const std::string path = dir.path() + "/pgsluice.yaml";
    std::ofstream(path) << good;
    std::string output;
    CHECK(run_check(path, output) == 0);
    INFO(output);
    std::string bad = good;
    bad.replace(bad.find(pki.key("server")), pki.key("server").size(), dir.path() + "/missing.key");
    std::ofstream(path) << bad;
    CHECK(run_check(path, output) == 1);
    CHECK(output.find("error: client_tls_key_file " + dir.path() + "/missing.key: cannot read: No such file or directory") !=
          std::string::npos);
}
