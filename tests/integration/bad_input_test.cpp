// Bad input gets PostgreSQL's error, a clean close, and never disturbs other clients.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/raw_socket.hpp"

using namespace harness;

namespace {

std::string sqlstate_in(const std::string& reply) {
    auto at = reply.find(std::string("\0C", 2));
    if (reply.empty() || reply[0] != 'E' || at == std::string::npos) return "";
    return reply.substr(at + 2, 5);
}

}  // namespace

TEST_CASE("an oversized startup packet gets 08P01 and a close while others are served", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    Connection bystander(proxy.conninfo());
    int fd = connect_loopback_or_fail(proxy.port());
    std::string packet(4, '\0');
    const std::uint32_t length = htonl(20000);
    std::memcpy(packet.data(), &length, 4);
    packet += std::string(200, 'x');
    send(fd, packet.data(), packet.size(), MSG_NOSIGNAL);
    auto reply = read_until_close(fd);
    close(fd);
    CHECK(sqlstate_in(reply) == "08P01");
    CHECK(reply.find("invalid length of startup packet") != std::string::npos);
    CHECK(bystander.scalar("select 1") == "1");
    CHECK(proxy.running());
}

TEST_CASE("garbage bytes instead of a startup packet get an error and a close", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    for (const std::string& garbage : {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string("\x00\x00\x00\x08\x00\x00\x00\x00", 8),
                                      std::string("\x00\x00\x00\x10\x00\x03\x00\x00user\0app\0", 16)}) {
        int fd = connect_loopback_or_fail(proxy.port());
        send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
        auto reply = read_until_close(fd);
        close(fd);
        CHECK_FALSE(sqlstate_in(reply).empty());
    }
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 1") == "1");
    CHECK(proxy.running());
}

TEST_CASE("garbage after login gets 08P01 and does not disturb other clients", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 2));
    Connection bystander(proxy.conninfo());
    Connection victim(proxy.conninfo());
    // A message header claiming a length of 2 bytes: impossible in the protocol.
    const char bad[] = {'Q', 0, 0, 0, 2};
    send(PQsocket(victim.raw()), bad, sizeof bad, MSG_NOSIGNAL);
    CHECK(proxy.wait_for_log("client broke the protocol"));
    CHECK(bystander.scalar("select 42") == "42");
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 1") == "1");
}

TEST_CASE("a client that never sends its startup packet does not block anyone", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    std::vector<int> silent;
    for (int i = 0; i < 20; ++i) silent.push_back(connect_loopback_or_fail(proxy.port()));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 'still serving'") == "still serving");
    for (int fd : silent) close(fd);
    CHECK(proxy.running());
}

TEST_CASE("SSLRequest is answered N: sslmode=prefer connects, sslmode=require fails clearly", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    std::string base = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                       " dbname=app user=app connect_timeout=10 password=" + PostgresServer::kAppPassword;
    Connection prefer(base + " sslmode=prefer");
    CHECK(prefer.scalar("select 1") == "1");
    try {
        Connection require(base + " sslmode=require");
        FAIL("sslmode=require should fail");
    } catch (const PgError& e) {
        CHECK(std::string(e.what()).find("does not support SSL") != std::string::npos);
    }
    // The operator sees why that client left: one line, where a connection that says nothing
    // at all leaves none.
    CHECK(proxy.wait_for_log("closed after its encryption request was answered"));
    // GSSAPI encryption request (libpq with gssencmode=prefer) is answered N as well.
    Connection gss(base + " gssencmode=prefer sslmode=disable");
    CHECK(gss.scalar("select 1") == "1");
}
