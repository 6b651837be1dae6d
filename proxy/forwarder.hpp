// Streams messages from one socket to another, looking only at what a visitor asks to see.
// Bytes are forwarded as they arrive: a 1 GB DataRow or COPY passes through a fixed buffer.
// The buffer grows only to hold a whole message the visitor inspects (small by nature:
// ReadyForQuery, ParameterStatus) and is bounded by kMaxInspectedMessage.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "protocol/frame_scanner.hpp"
#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"

namespace pgsluice::proxy {

// Bytes read from a peer and not yet forwarded: at most an incomplete header or an
// incomplete inspected message, carried over to the next read.
class StreamBuffer {
public:
    static constexpr std::size_t kInitialSize = 16 * 1024;
    static constexpr std::size_t kMaxInspectedMessage = 1 << 20;

    std::uint8_t* free_space() { return data_.get() + filled_; }
    std::size_t free_size() const { return size_ - filled_; }
    protocol::Bytes filled() const { return {data_.get(), filled_}; }
    bool empty() const { return filled_ == 0; }
    void commit(std::size_t n) { filled_ += n; }
    // Drops the first `n` bytes (they were forwarded) and keeps the rest at the front.
    void consume(std::size_t n) {
        if (n < filled_) std::memmove(data_.get(), data_.get() + n, filled_ - n);
        filled_ -= n;
    }
    // Called when full but the scanner still needs more of one message. False past the bound.
    bool grow() {
        if (size_ >= kMaxInspectedMessage) return false;
        const auto size = std::min(size_ * 2, kMaxInspectedMessage);
        std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[size]);
        std::memcpy(bigger.get(), data_.get(), filled_);
        data_ = std::move(bigger);
        size_ = size;
        return true;
    }
    // Not zeroed: a buffer is taken for every transaction, and only filled bytes are read.
    void allocate() {
        if (!data_) {
            data_.reset(new std::uint8_t[kInitialSize]);
            size_ = kInitialSize;
        }
    }
    // Kept for another transaction only at its first size: one that grew for a big message
    // gives the memory back.
    void shrink_to_initial() {
        if (size_ > kInitialSize && filled_ == 0) {
            data_.reset();
            size_ = 0;
        }
    }
    // An idle client holds no buffer: give the memory back when nothing is pending.
    void release_if_empty() {
        if (filled_ == 0) {
            data_.reset();
            size_ = 0;
        }
    }

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
    std::size_t filled_ = 0;
};

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
// `stop` and cancels the socket the other one is reading, so the other returns at its next
// step without losing bytes: data it already read stays in its buffer for later.
struct PumpControl {
    bool stop = false;
};

// Forwards from `from` to `to` until the visitor stops it, `control.stop` is set, or a side
// fails. `writing` is true exactly while a write to `to` is in progress, so a caller can
// tell whether `to` may hold a partial message. Besides the scanner's visitor interface, the
// visitor gets `on_forwarded(bytes)` after each write: one call per read, not per message,
// so byte counters cost nothing per message; and, if it has one, `on_stopping(bytes after
// the stop)` when it stopped the scan, before the write.
template <class Visitor>
awaitable<PumpResult> pump(Transport& from, Transport& to, protocol::FrameScanner& scanner, StreamBuffer& buffer,
                           Visitor& visitor, bool& writing, PumpControl& control) {
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
        auto result = scanner.scan(buffer.filled(), visitor);
        // A visitor may act on where it stopped before the bytes up to there are written
        // (the server's side gives its server back: the client may read slowly).
        if constexpr (requires { visitor.on_stopping(std::size_t{}); })
            if (result.status == protocol::FrameScanner::Status::stopped)
                visitor.on_stopping(buffer.filled().size() - result.consumed);
        if (result.consumed > 0) {
            writing = true;
            const auto ec = co_await to.write(asio::buffer(buffer.filled().data(), result.consumed));
            // On failure `writing` stays true: `to` may hold part of a message.
            if (ec) co_return PumpResult{PumpEnd::sink_failed, ec.message()};
            writing = false;
            visitor.on_forwarded(result.consumed);
            buffer.consume(result.consumed);
        }
        if (result.status == protocol::FrameScanner::Status::stopped) co_return PumpResult{PumpEnd::stopped, {}};
        if (result.status == protocol::FrameScanner::Status::error)
            co_return PumpResult{PumpEnd::protocol_error, result.error};
    }
}

}  // namespace pgsluice::proxy
