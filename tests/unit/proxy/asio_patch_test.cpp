// The changed Asio reactor (proxy/io/asio_patch) over a real TCP connection on loopback:
// after a read drained the socket, a read or a wait is queued without a system call, and
// must still complete for whatever arrives next (bytes, the peer's FIN, a reset); after the
// end of the stream, a read or a wait must complete at once, with no event to come.
// Each "nothing yet" check runs the handlers that are ready (io.poll(): epoll_wait with no
// wait) and finds none; each "it came" check runs until the handler did, bounded.
#include <sys/socket.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>

#include "proxy/asio.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
struct Connection {
    asio::io_context io;
    tcp::socket ours{io};
    tcp::socket peer{io};  // written and closed synchronously, never waited on
    Connection() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        peer.connect(acceptor.local_endpoint());
        ours = acceptor.accept();
        ours.non_blocking(true);
    }
    void peer_sends(std::size_t bytes) {
        const std::string data(bytes, 'x');
        REQUIRE(asio::write(peer, asio::buffer(data)) == bytes);
    }
    // Runs handlers until `done`, at most two seconds.
    bool run_until(const bool& done) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!done && std::chrono::steady_clock::now() < until) {
            io.restart();  // a run that found no work left the context stopped
            io.run_one_for(std::chrono::milliseconds(50));
        }
        return done;
    }
    // Runs the handlers that are ready now, without waiting.
    void run_ready() {
        io.restart();
        io.poll();
    }
    // A read of what is there, done for a readiness event: with fewer bytes than asked
    // for, the socket counts as drained.
    std::size_t read_for_event() {
        bool done = false;
        std::size_t got = 0;
        ours.async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, std::size_t n) {
            REQUIRE_FALSE(ec);
            got = n;
            done = true;
        });
        REQUIRE(run_until(done));
        return got;
    }
    // Bytes read for their event, fewer than asked for: the socket counts as drained.
    void drain() {
        peer_sends(5);
        REQUIRE(read_for_event() == 5);
    }
    std::array<char, 64> buffer{};
};

// A wait to read, queued; `done` and `error` say how it ended.
struct Wait {
    bool done = false;
    boost::system::error_code error;
    explicit Wait(tcp::socket& socket) {
        socket.async_wait(tcp::socket::wait_read, [this](boost::system::error_code ec) {
            error = ec;
            done = true;
        });
    }
};
}  // namespace

TEST_CASE("asio patch: a wait on a drained socket is done by the next bytes", "[asio_patch]") {
    Connection c;
    c.drain();
    Wait wait(c.ours);
    c.run_ready();
    CHECK_FALSE(wait.done);  // nothing arrived: the wait stays queued
    c.peer_sends(1);
    CHECK(c.run_until(wait.done));
    CHECK_FALSE(wait.error);
}

TEST_CASE("asio patch: a wait on a drained socket is done by the peer's FIN or reset", "[asio_patch]") {
    Connection c;
    c.drain();
    Wait wait(c.ours);
    c.run_ready();
    REQUIRE_FALSE(wait.done);
    if (GENERATE(true, false)) {
        c.peer.shutdown(tcp::socket::shutdown_send);
    } else {
        c.peer.set_option(asio::socket_base::linger(true, 0));  // close() sends a reset
        c.peer.close();
    }
    CHECK(c.run_until(wait.done));
}

TEST_CASE("asio patch: bytes that came while the session read them directly still end a wait", "[asio_patch]") {
    // The quick path reads with recv itself, not through Asio: a wait queued after such a
    // read must still be done by what arrives next. (The event of the bytes taken directly
    // may end it first, for nothing: the caller's read then finds nothing and waits again.)
    Connection c;
    c.drain();
    c.peer_sends(3);
    std::array<char, 64> direct{};
    const auto start = std::chrono::steady_clock::now();
    ssize_t got = -1;
    while ((got = ::recv(c.ours.native_handle(), direct.data(), direct.size(), MSG_DONTWAIT)) < 0 &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) {
    }
    REQUIRE(got == 3);
    Wait wait(c.ours);
    c.peer_sends(1);
    CHECK(c.run_until(wait.done));
}

TEST_CASE("asio patch: after the end of the stream, a read and a wait end at once", "[asio_patch]") {
    Connection c;
    // A read queued first (nothing there yet), then the bytes and the FIN together: one
    // event that carries both. Its short read must not count as draining the socket, or the
    // next read would wait for an event that never comes.
    std::size_t total = 0;
    boost::system::error_code end;
    bool done = false;
    const auto read = [&] {
        done = false;
        c.ours.async_read_some(asio::buffer(c.buffer), [&](boost::system::error_code ec, std::size_t n) {
            end = ec;
            total += n;
            done = true;
        });
    };
    read();
    c.run_ready();
    REQUIRE_FALSE(done);
    c.peer_sends(5);
    c.peer.shutdown(tcp::socket::shutdown_send);
    REQUIRE(c.run_until(done));
    CHECK(total == 5);
    CHECK_FALSE(end);
    read();
    REQUIRE(c.run_until(done));
    CHECK(end == asio::error::eof);
    // And again: the end of the stream is found at once by a read or a wait.
    read();
    REQUIRE(c.run_until(done));
    CHECK(end == asio::error::eof);
    Wait wait(c.ours);
    CHECK(c.run_until(wait.done));
}
