// The attack classes other poolers had CVEs for, each against the real binary: lengths that
// are negative, below 4 or near 2^31, a message bigger than memory, SCRAM from a client with
// a missing or huge nonce or a wrong proof, a malicious server (absurd iteration count, an
// ErrorResponse without SQLSTATE, data before authentication, AuthenticationOk without SCRAM's
// last step), a NUL inside a startup value, control characters in names that reach the log,
// the admin console from a non-admin. Each time the peer gets a clean ErrorResponse or close,
// pgsluice keeps serving a bystander, and it does not crash. The malicious server is a fake
// (no real PostgreSQL sends these); everything else talks to a real one.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/raw_socket.hpp"
#include "harness/wait.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/messages.hpp"
#include "protocol/startup.hpp"

using namespace harness;
using namespace std::string_literals;
namespace protocol = pgsluice::protocol;

namespace {

// Everything the peer sends until it closes (bounded by the receive timeout: 10 s).
bool read_exact(int fd, std::string& out, std::size_t n) {
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, out.data() + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

struct RawMessage {
    char type = 0;
    std::string body;
};

std::optional<RawMessage> read_message(int fd) {
    std::string header, body;
    if (!read_exact(fd, header, 5)) return std::nullopt;
    const auto length = protocol::read_u32(reinterpret_cast<const std::uint8_t*>(header.data()) + 1);
    if (length < 4 || length > (1u << 20)) return std::nullopt;
    if (!read_exact(fd, body, length - 4)) return std::nullopt;
    return RawMessage{header[0], body};
}

// The SQLSTATE of the first ErrorResponse in `reply`, "" when there is none.
std::string sqlstate_in(const std::string& reply) {
    std::size_t at = 0;
    while (at + 5 <= reply.size()) {
        const auto length = protocol::read_u32(reinterpret_cast<const std::uint8_t*>(reply.data()) + at + 1);
        if (reply[at] == 'E') {
            auto code = reply.find(std::string("\0C", 2), at);
            return code == std::string::npos ? "" : reply.substr(code + 2, 5);
        }
        if (length < 4) break;
        at += std::size_t(length) + 1;
    }
    return "";
}

std::string u32(std::uint32_t v) {
    std::string out(4, '\0');
    const std::uint32_t be = htonl(v);
    std::memcpy(out.data(), &be, 4);
    return out;
}

std::string startup_packet(const std::string& pairs) {
    const std::string body = u32(protocol::kProtocolVersion3) + pairs + std::string(1, '\0');
    return u32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

std::string message(char type, const std::string& body) {
    return std::string(1, type) + u32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

// A trust login on a raw socket, up to the first ReadyForQuery; REQUIREs that it worked.
int trusted_session(int port) {
    int fd = connect_loopback_or_fail(port);
    send_all(fd, startup_packet(std::string("user\0app\0database\0app\0", 22)));
    while (true) {
        auto reply = read_message(fd);
        REQUIRE(reply);
        REQUIRE(reply->type != 'E');
        if (reply->type == 'Z') return fd;
    }
}

long rss_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// pgsluice still serves another client, and still runs.
void bystander_is_served(Pgsluice& proxy, Connection& bystander) {
    CHECK(bystander.scalar("select 1") == "1");
    Connection fresh(proxy.conninfo());
    CHECK(fresh.scalar("select 2") == "2");
    CHECK(proxy.running());
}

std::string trust_config() {
    return Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n") +
           "auth_type: trust\n"
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

// A malicious PostgreSQL: accepts on a free port, reads each connection's startup packet,
// then lets `script` speak for the server. Runs on its own thread until destroyed.
class FakeServer {
public:
    explicit FakeServer(std::function<void(int fd)> script) : script_(std::move(script)) {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(listener_, 16) == 0);
        socklen_t size = sizeof addr;
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~FakeServer() {
        stop_ = true;
        thread_.join();
        close(listener_);
    }
    int port() const { return port_; }
    int connections() const { return connections_; }

private:
    void run() {
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int fd = accept(listener_, nullptr, nullptr);
            if (fd < 0) continue;
            timeval timeout{5, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            ++connections_;
            std::string length, body;
            if (read_exact(fd, length, 4) &&
                read_exact(fd, body, protocol::read_u32(reinterpret_cast<const std::uint8_t*>(length.data())) - 4))
                script_(fd);
            close(fd);
        }
    }
    std::function<void(int fd)> script_;
    int listener_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
};

std::string auth_request(protocol::AuthCode code, const std::string& data = {}) {
    return message('R', u32(static_cast<std::uint32_t>(code)) + data);
}

// Asks pgsluice for SCRAM and returns the client nonce of its SASLInitialResponse.
std::string start_scram(int fd) {
    send_all(fd, auth_request(protocol::AuthCode::sasl, std::string("SCRAM-SHA-256\0\0", 15)));
    auto initial = read_message(fd);
    if (!initial || initial->type != 'p') return "";
    auto at = initial->body.find("r=");
    return at == std::string::npos ? "" : initial->body.substr(at + 2);
}

// What a server that asks for no password says at login, up to its first ReadyForQuery.
std::string login_without_password() {
    return auth_request(protocol::AuthCode::ok) + message('S', "server_version\0" "15.0\0"s) +
           message('S', "client_encoding\0" "UTF8\0"s) + message('K', u32(1) + u32(2)) + message('Z', "I");
}

// The next simple Query pgsluice sends the fake server; nothing at Terminate or a close.
std::optional<RawMessage> next_query(int fd) {
    while (auto request = read_message(fd)) {
        if (request->type == 'X') return std::nullopt;
        if (request->type == 'Q') return request;
    }
    return std::nullopt;
}

// Config with database "app" on the real PostgreSQL and "fake" on the fake server.
std::string config_with_fake(int fake_port) {
    return Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n  server_connect_timeout: 5s\n") +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "  fake: {host: 127.0.0.1, port: " +
           std::to_string(fake_port) +
           "}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

// What a client of the fake database is told: its login fails (pgsluice opens a server for
// it then) or, should the login pass, its first query.
std::string error_through_fake(Pgsluice& proxy) {
    try {
        Connection client(proxy.conninfo("app", PostgresServer::kAppPassword, "fake"));
        return query_error(client, "select 1");
    } catch (const PgError& e) {
        return e.what();
    }
}

std::optional<std::string> sqlstate_through_fake(Pgsluice& proxy) {
    return login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "fake");
}

}  // namespace

TEST_CASE("startup packets with lengths negative, below 8 and near 2^31 get 08P01 and a close", "[integration][hostile]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection bystander(proxy.conninfo());
    for (std::uint32_t length : {0xffffffffu, 0x80000000u, 0x7fffffffu, 0x7ffffffbu, 0u, 3u, 4u, 7u}) {
        INFO("length " << length);
        int fd = connect_loopback_or_fail(proxy.port());
        send_all(fd, u32(length) + u32(protocol::kProtocolVersion3) + std::string("user\0app\0\0", 10));
        const auto reply = read_until_close(fd);
        close(fd);
        CHECK(sqlstate_in(reply) == "08P01");
        CHECK(reply.find("invalid length of startup packet") != std::string::npos);
    }
    bystander_is_served(proxy, bystander);
}

TEST_CASE("messages with lengths negative, below 4 or past 1 GB get 08P01 and a close, and a 1 GB one streams in bounded memory",
          "[integration][hostile]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, trust_config());
    Connection bystander(proxy.conninfo());
    for (std::uint32_t length : {0xffffffffu, 0x80000000u, 0x7fffffffu, 0x40000000u, 0u, 3u}) {
        for (char type : {'Q', 'P', 'X'}) {
            INFO("type " << type << " length " << length);
            int fd = trusted_session(proxy.port());
            send_all(fd, std::string(1, type) + u32(length) + "select 1");
            const auto reply = read_until_close(fd);
            close(fd);
            // A Terminate is the client leaving: a close is the answer (PostgreSQL sends
            // nothing either); anything else gets PostgreSQL's 08P01 first.
            if (type == 'X') CHECK((reply.empty() || sqlstate_in(reply) == "08P01"));
            else CHECK(sqlstate_in(reply) == "08P01");
        }
    }
    // A Query that says it is 1 GB - 1 (the most PostgreSQL takes): pgsluice streams it and
    // never holds it whole; the client gives up after 8 MB of it.
    const long rss_before = rss_kb(proxy.process().pid());
    {
        int fd = trusted_session(proxy.port());
        send_all(fd, std::string("Q") + u32(0x3fffffff) + "select '");
        const std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 8; ++i) send_all(fd, chunk);
        CHECK(rss_kb(proxy.process().pid()) - rss_before < 64 * 1024);
        close(fd);
    }
    // The server that was mid-message is closed, not handed to the bystander.
    bystander_is_served(proxy, bystander);
    CHECK(rss_kb(proxy.process().pid()) - rss_before < 64 * 1024);
}

TEST_CASE("SCRAM from a client with a missing or huge nonce or a wrong proof is refused cleanly", "[integration][hostile]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection bystander(proxy.conninfo());
    auto begin = [&] {
        int fd = connect_loopback_or_fail(proxy.port());
        send_all(fd, startup_packet(std::string("user\0app\0database\0app\0", 22)));
        auto sasl = read_message(fd);
        REQUIRE(sasl);
        REQUIRE(sasl->type == 'R');
        return fd;
    };
    auto initial = [](const std::string& client_first) {
        std::string out;
        protocol::append_sasl_initial_response(out, protocol::scram::kMechanism, client_first);
        return out;
    };
    SECTION("missing nonce") {
        for (const std::string& client_first : {std::string("n,,n="), std::string("n,,n=,r="), std::string("n,,n=,r=a b")}) {
            int fd = begin();
            send_all(fd, initial(client_first));
            const auto reply = read_until_close(fd);
            close(fd);
            CHECK(sqlstate_in(reply) == "08P01");
        }
    }
    SECTION("huge nonce: within the message bound, then past it") {
        int fd = begin();
        send_all(fd, initial("n,,n=,r=" + std::string(8000, 'A')));
        auto reply = read_message(fd);  // a nonce of 8000 characters is still a valid nonce
        REQUIRE(reply);
        CHECK(reply->type == 'R');
        // Its final message fits too, and fails on the nonce the server did not extend.
        send_all(fd, message('p', "c=biws,r=" + std::string(8000, 'A') + ",p=AAAA"));
        CHECK(sqlstate_in(read_until_close(fd)) == "28P01");
        close(fd);
        // A SASLInitialResponse that says it is 1 MB long: refused from its header.
        fd = begin();
        send_all(fd, "p"s + u32(1 << 20) + "SCRAM-SHA-256\0"s + u32((1 << 20) - 30) + "n,,n=,r=AAAA");
        const auto refused = read_until_close(fd);
        close(fd);
        CHECK(sqlstate_in(refused) == "08P01");
    }
    SECTION("wrong proof") {
        int fd = begin();
        auto client = protocol::scram::Client::with_password("not-the-password", protocol::scram::random_nonce());
        send_all(fd, initial(client.client_first()));
        auto server_first = read_message(fd);
        REQUIRE(server_first);
        REQUIRE(server_first->type == 'R');
        auto step = client.handle_server_first(server_first->body.substr(4));
        REQUIRE(step.ok);
        std::string out;
        protocol::append_sasl_response(out, step.message);
        send_all(fd, out);
        const auto reply = read_until_close(fd);
        close(fd);
        CHECK(sqlstate_in(reply) == "28P01");
    }
    bystander_is_served(proxy, bystander);
}

TEST_CASE("a malicious server cannot stall, skip authentication or send errors without SQLSTATE", "[integration][hostile]") {
    PostgresServer postgres;
    std::function<void(int)> behaviour;
    FakeServer fake([&](int fd) { behaviour(fd); });
    SECTION("an absurd SCRAM iteration count is refused at once") {
        behaviour = [](int fd) {
            const auto nonce = start_scram(fd);
            send_all(fd, auth_request(protocol::AuthCode::sasl_continue,
                                      "r=" + nonce + "evil,s=c2FsdHNhbHQ=,i=10000000"));
            read_until_close(fd);
        };
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        Connection bystander(proxy.conninfo());
        const auto started = std::chrono::steady_clock::now();
        const auto error = error_through_fake(proxy);
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
        CHECK(error.find("10000000 SCRAM iterations") != std::string::npos);
        bystander_is_served(proxy, bystander);
    }
    SECTION("an ErrorResponse without SQLSTATE reaches the client with one") {
        behaviour = [](int fd) { send_all(fd, message('E', std::string("SFATAL\0Mgo away\0\0", 17))); };
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        Connection bystander(proxy.conninfo());
        const auto error = error_through_fake(proxy);
        CHECK(error.find("go away") != std::string::npos);
        CHECK(sqlstate_through_fake(proxy) == "XX000");
        bystander_is_served(proxy, bystander);
    }
    SECTION("ReadyForQuery before any authentication") {
        behaviour = [](int fd) {
            send_all(fd, message('S', std::string("server_version\0" "15.0\0", 20)) + message('Z', "I"));
            read_until_close(fd);
        };
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        Connection bystander(proxy.conninfo());
        const auto error = error_through_fake(proxy);
        CHECK(error.find("server sent message type 'S' before authentication completed") != std::string::npos);
        CHECK(sqlstate_through_fake(proxy) == "08P01");
        bystander_is_served(proxy, bystander);
    }
    SECTION("AuthenticationOk before SCRAM's final step") {
        behaviour = [](int fd) {
            const auto nonce = start_scram(fd);
            send_all(fd, auth_request(protocol::AuthCode::sasl_continue, "r=" + nonce + "evil,s=c2FsdHNhbHQ=,i=4096"));
            if (read_message(fd)) send_all(fd, auth_request(protocol::AuthCode::ok) + message('Z', "I"));
            read_until_close(fd);
        };
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        Connection bystander(proxy.conninfo());
        const auto error = error_through_fake(proxy);
        CHECK(error.find("AuthenticationOk before the SCRAM exchange completed") != std::string::npos);
        CHECK(sqlstate_through_fake(proxy) == "08P01");
        bystander_is_served(proxy, bystander);
    }
}

TEST_CASE("a server's message with a length negative, below 4 or past what pgsluice holds ends that server only",
          "[integration][hostile]") {
    PostgresServer postgres;
    std::string hostile;  // what the fake server answers the client's query with
    std::mutex hostile_mutex;
    // Logs pgsluice in without a password (as trust would), answers whatever pgsluice sends
    // on its own with a plain completion, and the client's "select 'hostile'" with `hostile`.
    FakeServer fake([&](int fd) {
        send_all(fd, login_without_password());
        while (auto request = next_query(fd)) {
            if (request->body.find("hostile") == std::string::npos) {
                send_all(fd, message('C', "SELECT 0\0"s) + message('Z', "I"));
                continue;
            }
            std::lock_guard lock(hostile_mutex);
            send_all(fd, message('T', std::string("\0\0", 2)) + hostile);
            read_until_close(fd);
            return;
        }
    });
    Pgsluice proxy(postgres, config_with_fake(fake.port()));
    Connection bystander(proxy.conninfo());
    const long rss_before = rss_kb(proxy.process().pid());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"negative", "D"s + u32(0xffffffffu)},
        {"below 4", "D"s + u32(2) + "xx"},
        {"near 2^31, on a message pgsluice reads whole", "S"s + u32(0x7ffffff0u) + "server_version\0"s + std::string(1 << 16, 'x')},
        {"past 1 MB, on a message pgsluice reads whole", "S"s + u32(16u << 20) + "application_name\0"s + std::string(2 << 20, 'x')},
    };
    for (const auto& [name, bytes] : cases) {
        INFO(name);
        {
            std::lock_guard lock(hostile_mutex);
            hostile = bytes;
        }
        Connection client(proxy.conninfo("app", PostgresServer::kAppPassword, "fake"));
        const auto error = query_error(client, "select 'hostile'");
        CHECK(error.find("08006") != std::string::npos);
        CHECK(rss_kb(proxy.process().pid()) - rss_before < 64 * 1024);
    }
    CHECK(proxy.log_count("server broke the protocol") == cases.size());
    bystander_is_served(proxy, bystander);
}

// What PostgreSQL's backends do in a crash restart, at the worst moment for a pooler: the
// notice and the close come right behind the ReadyForQuery that ended a client's
// transaction, in the same read. The client is between transactions and lost nothing; its
// connection must stay (no FATAL written to a client that is not reading: libpq's next
// query would meet a reset connection and report no SQLSTATE) and its next query must run.
TEST_CASE("a server that closes right after a transaction's ReadyForQuery does not end its client",
          "[integration][hostile]") {
    PostgresServer postgres;
    FakeServer fake([&](int fd) {
        send_all(fd, login_without_password());
        while (auto request = next_query(fd)) {
            std::string answer = message('C', "SELECT 0\0"s) + message('Z', "I");
            if (request->body.find("goodbye") == std::string::npos) {
                send_all(fd, answer);
                continue;
            }
            send_all(fd, answer + message('N', "SWARNING\0VWARNING\0C57P02\0"
                                               "Mterminating connection because of crash of another server process\0\0"s));
            return;  // the close
        }
    });
    Pgsluice proxy(postgres, config_with_fake(fake.port()));
    Connection client(proxy.conninfo("app", PostgresServer::kAppPassword, "fake"));
    PQsetNoticeProcessor(client.raw(), [](void*, const char*) {}, nullptr);
    CHECK(query_error(client, "select 'goodbye'").empty());
    CHECK(proxy.wait_for_log("server connection lost between transactions"));
    CHECK(query_error(client, "select 'still here'").empty());
    CHECK(fake.connections() == 2);
    CHECK(proxy.log_count("closing after") == 0);
}

TEST_CASE("a NUL inside a startup value, control characters in names and the admin console from a non-admin",
          "[integration][hostile]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2) + "  admin: {password: admin-secret}\nadmin: {users: [admin]}\n");
    Connection bystander(proxy.conninfo());
    SECTION("NUL inside a value") {
        // A NUL ends a value where it is: "user" "app\0p" is user "app" then a parameter
        // "p". The layout then breaks (08P01), or the rest parses as other parameters and
        // the login goes on for what was parsed: never a user or database with a NUL in it.
        const std::vector<std::pair<std::string, std::string>> packets = {
            {"user\0ap\0p\0database\0app\0"s, "08P01"},          // the last value has no terminator
            {"user\0app\0database\0ap\0p\0\0\0"s, "08P01"},     // bytes after the terminator
            {"user\0app\0database\0nowhere\0p\0\0"s, "R"},  // database "nowhere", "p" = "": log in first
        };
        for (const auto& [pairs, expected] : packets) {
            int fd = connect_loopback_or_fail(proxy.port());
            const std::string body = u32(protocol::kProtocolVersion3) + pairs + std::string(1, '\0');
            send_all(fd, u32(static_cast<std::uint32_t>(body.size() + 4)) + body);
            const auto reply = read_message(fd);
            close(fd);
            REQUIRE(reply);
            if (expected == "R") {
                CHECK(reply->type == 'R');
            } else {
                CHECK(reply->type == 'E');
                CHECK(sqlstate_in(message('E', reply->body)) == expected);
            }
        }
    }
    SECTION("control characters in user and application_name do not forge log lines") {
        const std::string forged = "\n2026-01-01 00:00:00.000 error FORGED\x1b[2J";
        CHECK(login_error_sqlstate(proxy.port(), "app" + forged, "x", "app") == "28P01");
        int fd = connect_loopback_or_fail(proxy.port());
        send_all(fd, startup_packet("user\0" + std::string("nobody") + forged + std::string("\0application_name\0", 18) +
                                    "psql" + forged + std::string("\0", 1)));
        read_message(fd);  // the SASL request; then the client goes away
        close(fd);
        CHECK(wait_until([&] { return proxy.log().find("FORGED") != std::string::npos; }));
        const auto log = proxy.log();
        CHECK(log.find("\\n2026-01-01 00:00:00.000 error FORGED\\x1b[2J") != std::string::npos);
        CHECK(log.find("\nFORGED") == std::string::npos);
        CHECK(log.find("\n2026-01-01") == std::string::npos);
        CHECK(log.find('\x1b') == std::string::npos);
    }
    SECTION("admin commands from a non-admin") {
        for (const char* database : {"pgbouncer", "pgsluice"})
            CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, database) == "28000");
        CHECK(login_error_sqlstate(proxy.port(), "admin", "admin-secret", "pgbouncer") == std::nullopt);
    }
    bystander_is_served(proxy, bystander);
}

TEST_CASE("a server asking for the password in clear text or as MD5 is refused unless the database allows it",
          "[integration][hostile]") {
    PostgresServer postgres;
    std::function<void(int)> behaviour;
    FakeServer fake([&](int fd) { behaviour(fd); });
    std::atomic<bool> password_sent{false};
    const auto ask = [&](protocol::AuthCode code, const std::string& data) {
        return [&, code, data](int fd) {
            send_all(fd, auth_request(code, data));
            auto reply = read_message(fd);
            if (reply && reply->type == 'p') {
                password_sent = true;
                send_all(fd, message('E', "SFATAL\0C28P01\0Mfake refuses\0\0"s));
            }
            read_until_close(fd);
        };
    };
    SECTION("cleartext, refused by default") {
        behaviour = ask(protocol::AuthCode::cleartext_password, {});
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        Connection bystander(proxy.conninfo());
        CHECK(error_through_fake(proxy).find("in clear text; refused (set server_allow_cleartext_password") !=
              std::string::npos);
        CHECK_FALSE(password_sent);
        bystander_is_served(proxy, bystander);
    }
    SECTION("MD5, refused by default") {
        behaviour = ask(protocol::AuthCode::md5_password, std::string("salt", 4));
        Pgsluice proxy(postgres, config_with_fake(fake.port()));
        CHECK(error_through_fake(proxy).find("MD5 authentication for user \"app\"; refused") != std::string::npos);
        CHECK_FALSE(password_sent);
    }
    SECTION("cleartext, allowed for that database") {
        behaviour = ask(protocol::AuthCode::cleartext_password, {});
        auto config = config_with_fake(fake.port());
        config.replace(config.find("  fake: {"), 9, "  fake: {server_allow_cleartext_password: true, ");
        Pgsluice proxy(postgres, config);
        CHECK(error_through_fake(proxy).find("fake refuses") != std::string::npos);
        CHECK(password_sent);
    }
}

TEST_CASE("server_scram_max_iterations bounds what a server may ask", "[integration][hostile]") {
    PostgresServer postgres;
    FakeServer fake([](int fd) {
        const auto nonce = start_scram(fd);
        send_all(fd, auth_request(protocol::AuthCode::sasl_continue, "r=" + nonce + "evil,s=c2FsdHNhbHQ=,i=6000"));
        read_until_close(fd);
    });
    Pgsluice proxy(postgres, "server_scram_max_iterations: 5000\n" + config_with_fake(fake.port()));
    CHECK(error_through_fake(proxy).find("6000 SCRAM iterations, more than 5000") != std::string::npos);
}
