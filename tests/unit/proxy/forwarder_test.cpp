// The one forwarder's pieces without a server: a Transport over a socket pair, output plans
// with edits (a message dropped, replaced, or preceded by another) written whole even when
// the socket fills in the middle, and the same visitor driven by forward_now and by pump.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>

#include "protocol/messages.hpp"
#include "proxy/forward/forwarder.hpp"

using namespace pgsluice;
using namespace pgsluice::proxy;

namespace {
// Two connected Transports on `io`; `near` sends through a small buffer when asked.
struct Pipe {
    asio::io_context& io;
    Transport near{Socket(io.get_executor())};
    Transport far{Socket(io.get_executor())};
    explicit Pipe(asio::io_context& context, int send_buffer = 0) : io(context) {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        if (send_buffer > 0) ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
        const asio::generic::stream_protocol unix_stream(AF_UNIX, SOCK_STREAM);
        near = Transport(Socket(io.get_executor(), unix_stream, fds[0]));
        far = Transport(Socket(io.get_executor(), unix_stream, fds[1]));
    }
    // Everything `far` can read now.
    std::string drain_far() {
        std::string out;
        std::uint8_t chunk[4096];
        while (true) {
            const auto read = far.read_now(chunk, sizeof chunk);
            if (read.status != Transport::Io::done) return out;
            out.append(reinterpret_cast<const char*>(chunk), read.bytes);
        }
    }
};

std::string message(char type, const std::string& body) {
    std::string out(1, type);
    const auto length = static_cast<std::uint32_t>(body.size() + 4);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xff));
    return out + body;
}

void fill(StreamBuffer& buffer, const std::string& bytes) {
    buffer.allocate();
    while (buffer.free_size() < bytes.size()) REQUIRE(buffer.grow());
    std::memcpy(buffer.free_space(), bytes.data(), bytes.size());
    buffer.commit(bytes.size());
}

// Forwards everything; replaces each Query 'Q' with a Query of `replacement`, drops every
// Flush 'H', and puts a Sync before each Execute 'E' (no meaning: only edits to check).
struct Editor {
    OutputPlan& plan;
    std::string replacement;
    std::size_t forwarded = 0;
    bool inspects(char type, std::uint32_t) const { return type == 'Q' || type == 'H'; }
    protocol::Verdict on_message(const protocol::MessageView& m) {
        if (m.type == 'Q') plan.edit(m.offset, m.size(), message('Q', replacement));
        if (m.type == 'H') plan.edit(m.offset, m.size(), {});
        if (m.type == 'E') plan.edit(m.offset, 0, message('S', ""));
        if (m.type == 'X') return protocol::Verdict::stop_after;
        return protocol::Verdict::forward;
    }
    void on_forwarded(std::size_t bytes) { forwarded += bytes; }
};
}  // namespace

TEST_CASE("a Transport reads and writes without waiting and tells an empty socket from a closed one", "[unit][forward]") {
    asio::io_context io;
    Pipe pipe(io);
    std::uint8_t byte = 0;
    CHECK(pipe.near.read_now(&byte, 1).status == Transport::Io::would_block);
    CHECK(!pipe.near.has_unread_input_or_eof());
    const std::uint8_t hello[] = {'h', 'i'};
    REQUIRE(pipe.far.write_now(hello, 2).status == Transport::Io::done);
    CHECK(pipe.near.has_unread_input_or_eof());
    const auto read = pipe.near.read_now(&byte, 1);
    CHECK(read.status == Transport::Io::done);
    CHECK(byte == 'h');
    pipe.far.close();
    CHECK(pipe.near.peer_hung_up());
    CHECK(pipe.near.read_now(&byte, 1).status == Transport::Io::done);  // the 'i' still comes first
    CHECK(pipe.near.read_now(&byte, 1).status == Transport::Io::closed);
}

TEST_CASE("an output plan drops, replaces and inserts messages and sends the rest untouched", "[unit][forward]") {
    asio::io_context io;
    Pipe pipe(io);
    Stream stream;
    const std::string input = message('Q', std::string("SELECT 1") + '\0') + message('H', "") + message('P', "abc") +
                              message('E', "xyz") + message('X', "");
    fill(stream.buffer, input);
    Editor editor{stream.plan, std::string("SELECT 2") + '\0'};
    const auto step = forward_now(stream, pipe.near, editor);
    CHECK(step.written);
    CHECK(step.scan.status == protocol::FrameScanner::Status::stopped);
    CHECK(editor.forwarded == input.size());
    CHECK(stream.buffer.empty());
    CHECK(!stream.plan.pending());
    CHECK(pipe.drain_far() == message('Q', std::string("SELECT 2") + '\0') + message('P', "abc") + message('S', "") +
                                  message('E', "xyz") + message('X', ""));
}

TEST_CASE("a plan that meets a full socket is finished later from where it stopped", "[unit][forward]") {
    asio::io_context io;
    Pipe pipe(io, 4096);
    Stream stream;
    // Large enough to fill the socket's buffers several times, with edits on both sides of
    // the point where the socket fills.
    std::string input;
    for (int i = 0; i < 200; ++i) input += message('Q', std::string(1000, 'a')) + message('D', std::string(1000, 'b'));
    fill(stream.buffer, input);
    Editor editor{stream.plan, "short"};
    auto step = forward_now(stream, pipe.near, editor);
    REQUIRE(!step.written);
    CHECK(stream.plan.pending());
    std::string received = pipe.drain_far();
    while (stream.plan.write_now(pipe.near, stream.buffer.filled().data()) != Transport::Io::done)
        received += pipe.drain_far();
    received += pipe.drain_far();
    stream.plan_sent();
    std::string expected;
    for (int i = 0; i < 200; ++i) expected += message('Q', "short") + message('D', std::string(1000, 'b'));
    CHECK(received == expected);
    CHECK(stream.buffer.empty());
}

TEST_CASE("the coroutine loop runs the same steps as the quick one and stops where the visitor says", "[unit][forward]") {
    asio::io_context io;
    Pipe source(io), sink(io);
    Stream stream;
    Editor editor{stream.plan, "R"};
    const std::string first = message('Q', "x") + message('H', "");
    const std::string rest = message('X', "") + message('Q', "after the stop");
    REQUIRE(source.far.write_now(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()).status ==
            Transport::Io::done);
    REQUIRE(source.far.write_now(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()).status ==
            Transport::Io::done);
    PumpControl control;
    PumpResult result;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> { result = co_await pump(source.near, sink.near, stream, editor, control); },
        asio::detached);
    io.run();
    CHECK(result.end == PumpEnd::stopped);
    CHECK(sink.drain_far() == message('Q', "R") + message('X', ""));
    // What came after the stop stays for the next call, scanned then.
    CHECK(stream.buffer.filled().size() == message('Q', "after the stop").size());
}

namespace {
// Sets limits.client_write_timeout for one test and puts it back.
struct WriteTimeout {
    explicit WriteTimeout(Duration limit) { set_client_write_timeout(limit); }
    ~WriteTimeout() { set_client_write_timeout(Duration::zero()); }
};

// A plan of `size` bytes of DataRows in `stream`, forwarded untouched.
void plan_rows(Stream& stream, std::size_t size) {
    std::string input;
    while (input.size() < size) input += message('D', std::string(4000, 'r'));
    fill(stream.buffer, input);
    stream.plan.decide(input.size());
}
}  // namespace

TEST_CASE("a write to a client that reads nothing ends at client_write_timeout", "[unit][forward]") {
    WriteTimeout limit(std::chrono::seconds(1));
    asio::io_context io;
    Pipe pipe(io);
    Stream stream;
    WriteDeadline deadline;
    stream.plan.watch_writes(&deadline);
    plan_rows(stream, 900 * 1024);  // far more than the socket pair holds
    boost::system::error_code result;
    const auto started = Clock::now();
    Clock::time_point ended;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            result = co_await stream.plan.write(pipe.near, stream.buffer.filled().data());
            ended = Clock::now();
        },
        asio::detached);
    io.run_for(std::chrono::seconds(5));
    CHECK(result == asio::error::timed_out);
    CHECK(deadline.expired());
    CHECK(deadline.reason() == "client_write_timeout: the client read nothing for 1000 ms");
    // Checked every 100 ms: at most that late, and never early.
    CHECK(ended - started >= std::chrono::seconds(1));
    CHECK(ended - started < std::chrono::milliseconds(1500));
    CHECK(stream.plan.pending());  // the rest stays unsent: the session closes the client
}

TEST_CASE("a client that reads slowly but steadily is never cut by client_write_timeout", "[unit][forward]") {
    WriteTimeout limit(std::chrono::seconds(1));
    asio::io_context io;
    Pipe pipe(io);
    Stream stream;
    WriteDeadline deadline;
    stream.plan.watch_writes(&deadline);
    const std::size_t size = 900 * 1024;
    plan_rows(stream, size);
    boost::system::error_code result = asio::error::would_block;
    bool written = false;
    std::size_t received = 0;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            result = co_await stream.plan.write(pipe.near, stream.buffer.filled().data());
            written = true;
        },
        asio::detached);
    // 64 kB every 250 ms: the whole write takes well over the limit, yet bytes move in
    // every one of the deadline's looks.
    const auto started = Clock::now();
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            asio::steady_timer tick(io);
            std::uint8_t chunk[8192];
            while (received < size && Clock::now() - started < std::chrono::seconds(20)) {
                tick.expires_after(std::chrono::milliseconds(250));
                co_await tick.async_wait(use_awaitable);
                for (std::size_t taken = 0; taken < 64 * 1024;) {
                    const auto read = pipe.far.read_now(chunk, sizeof chunk);
                    if (read.status != Transport::Io::done) break;
                    taken += read.bytes;
                    received += read.bytes;
                }
            }
        },
        asio::detached);
    io.run_for(std::chrono::seconds(25));
    REQUIRE(written);
    CHECK(!result);
    CHECK(!deadline.expired());
    CHECK(received >= size);
    CHECK(Clock::now() - started > std::chrono::milliseconds(1500));  // longer than the limit
}
