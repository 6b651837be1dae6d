// A client that reads its answers slowly, or not at all, holds the socket pgsluice writes to,
// never the server: once the ReadyForQuery that ends its transaction has been read from the
// server, the server goes back to the pool before the answer is written to the client.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"
#include "protocol/messages.hpp"

using namespace harness;

namespace {

// A simple Query message, written straight to the connection's socket.
bool send_query(int fd, const std::string& sql) {
    std::string message;
    pgsluice::protocol::append_query(message, sql);
    std::size_t sent = 0;
    while (sent < message.size()) {
        pollfd writable{fd, POLLOUT, 0};
        if (::poll(&writable, 1, 2000) != 1) return false;
        const auto n = ::send(fd, message.data() + sent, message.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

int unread_bytes(int fd) {
    int n = 0;
    ::ioctl(fd, FIONREAD, &n);
    return n;
}

}  // namespace

TEST_CASE("a client that stops reading its answers does not keep the server", "[integration]") {
    PostgresServer postgres;
    // Both forwarders: the quick path (transaction mode, with and without a timeout to watch)
    // and the coroutine forwarder (statement mode).
    const auto mode = GENERATE(as<std::string>{}, "transaction", "statement");
    const auto extra = GENERATE(as<std::string>{}, "", "  query_timeout: 30s\n");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 1, "  query_wait_timeout: 5s\n" + extra));
    // Over the Unix socket, whose buffers do not grow: they fill after some 100 answers.
    std::string conninfo = proxy.conninfo();
    conninfo.replace(conninfo.find("host=127.0.0.1"), 14, "host=" + proxy.socket_dir());
    Connection reader(conninfo);
    const int fd = PQsocket(reader.raw());

    // One transaction at a time, each answered in one piece (2 kB, one write by PostgreSQL):
    // the next is sent once its answer reached the socket, until one no longer does.
    int answered = 0;
    bool stalled = false;
    for (int i = 0; i < 5000 && !stalled; ++i) {
        const int before = unread_bytes(fd);
        REQUIRE(send_query(fd, "select repeat('x', 2000)"));
        if (wait_until([&] { return unread_bytes(fd) > before; }, std::chrono::milliseconds(1000)))
            ++answered;
        else
            stalled = true;
    }
    REQUIRE(stalled);
    CHECK(answered > 10);

    // The reader's last answer waits to be written; its server must serve others meanwhile.
    Connection other(proxy.conninfo());
    CHECK(other.scalar("select 'served while the reader sleeps'") == "served while the reader sleeps");
    CHECK(other.scalar("select 'twice'") == "twice");
}
