// The one forwarder: how bytes read from one peer go on to the other. A scan decides, message
// by message, what to forward, stop at, or change (the visitor's verdicts and edits); the
// decision becomes an OutputPlan; the plan is written. The quick path runs these steps from
// readiness handlers without waiting (forward_now); the coroutine path runs the very same
// steps and waits where they cannot go on (pump). Only the waiting differs.
#pragma once

#include <string>

#include "protocol/frame_scanner.hpp"
#include "proxy/asio.hpp"
#include "proxy/forward/output_plan.hpp"
#include "proxy/forward/stream_buffer.hpp"
#include "proxy/io/transport.hpp"

namespace pgsluice::proxy {

// One direction's bytes in flight: read and not yet sent, how they are framed, and what the
// last scan decided to send.
struct Stream {
    protocol::FrameScanner scanner;
    StreamBuffer buffer;
    OutputPlan plan;

    // Nothing of a message half-read or half-sent.
    bool at_boundary() const { return scanner.at_boundary() && !plan.pending(); }
    // The plan was written: its bytes leave the buffer. Returns how many were decided.
    std::size_t plan_sent() {
        const auto decided = plan.decided();
        buffer.consume(decided);
        plan.clear();
        return decided;
    }
};

// Scans what `stream` holds with `visitor` and plans what goes on. Besides the scanner's
// visitor interface, a visitor may have `on_stopping(bytes after the stop)`, called when it
// stopped the scan, before anything is written: the server's side gives its server back
// there, so a client that reads slowly holds only its own socket.
template <class Visitor>
protocol::FrameScanner::Result decide(Stream& stream, Visitor& visitor) {
    auto result = stream.scanner.scan(stream.buffer.filled(), visitor);
    if constexpr (requires { visitor.on_stopping(std::size_t{}); })
        if (result.status == protocol::FrameScanner::Status::stopped)
            visitor.on_stopping(stream.buffer.filled().size() - result.consumed);
    stream.plan.decide(result.consumed);
    return result;
}

// The quick path's step: decides and writes what `to` takes now. `written` is false when the
// plan is still pending (the socket was full, or failed): the coroutine path finishes it.
// The visitor gets `on_forwarded(bytes)` once its plan is written: one call per read, not
// per message, so byte counters cost nothing per message.
struct StepNow {
    protocol::FrameScanner::Result scan;
    bool written = true;
};
template <class Visitor>
StepNow forward_now(Stream& stream, Transport& to, Visitor& visitor) {
    StepNow step{decide(stream, visitor)};
    if (!stream.plan.pending()) return step;
    if (stream.plan.write_now(to, stream.buffer.filled().data()) != Transport::Io::done) {
        step.written = false;
        return step;
    }
    visitor.on_forwarded(stream.plan_sent());
    return step;
}

enum class PumpEnd {
    stopped,         // the visitor said stop
    interrupted,     // the other direction asked this one to stop (see PumpControl)
    source_closed,   // reading from `from` failed or hit EOF
    sink_failed,     // writing to `to` failed
    protocol_error,  // the stream is not valid PostgreSQL framing
};

struct PumpResult {
    PumpEnd end = PumpEnd::interrupted;
    std::string detail;
};

// Shared by the two directions of one session, on one worker thread. A direction that ends sets
// `stop` and cancels the transport the other one is reading, so the other returns at its next
// step without losing bytes: data it already read stays in its buffer for later.
struct PumpControl {
    bool stop = false;
};

// The coroutine path's loop: forwards from `from` to `to` until the visitor stops it,
// `control.stop` is set, or a side fails. A plan the quick path left pending is written
// before (ClientSession::finish_pending_write). `stream.plan.pending()` is true exactly while a write to `to` is unfinished, so a
// caller can tell whether `to` may hold a partial message.
template <class Visitor>
awaitable<PumpResult> pump(Transport& from, Transport& to, Stream& stream, Visitor& visitor, PumpControl& control) {
    auto& buffer = stream.buffer;
    buffer.allocate();
    bool scan_first = !buffer.empty();  // bytes left over from the last call
    while (true) {
        if (control.stop) co_return PumpResult{PumpEnd::interrupted, {}};
        if (!scan_first) {
            if (buffer.free_size() == 0 && !buffer.grow())
                co_return PumpResult{PumpEnd::protocol_error, "inspected message too large"};
            auto [ec, n] = co_await from.read_some(asio::buffer(buffer.free_space(), buffer.free_size()));
            buffer.commit(n);  // kept even when interrupted: the next call forwards it
            if (control.stop) co_return PumpResult{PumpEnd::interrupted, {}};
            if (ec) co_return PumpResult{PumpEnd::source_closed, ec == asio::error::eof ? "EOF" : ec.message()};
        }
        scan_first = false;
        const auto result = decide(stream, visitor);
        if (stream.plan.pending()) {
            // On failure the plan stays pending: `to` may hold part of a message.
            if (auto ec = co_await stream.plan.write(to, buffer.filled().data()))
                co_return PumpResult{PumpEnd::sink_failed, ec.message()};
            visitor.on_forwarded(stream.plan_sent());
        }
        if (result.status == protocol::FrameScanner::Status::stopped) co_return PumpResult{PumpEnd::stopped, {}};
        if (result.status == protocol::FrameScanner::Status::error)
            co_return PumpResult{PumpEnd::protocol_error, result.error};
    }
}

}  // namespace pgsluice::proxy
