// Finds message boundaries in a stream of typed PostgreSQL messages, however the stream is
// split across reads, without copying bodies. The caller owns the bytes: it hands the scanner
// a contiguous view, forwards the `consumed` prefix the scanner decided on, keeps the rest
// (never more than one message header, or one whole message the visitor asked to inspect),
// and calls scan() again when more bytes arrive. Bodies of messages nobody inspects stream
// through in pieces: the scanner only counts how many body bytes are still to come.
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <string>

#include "protocol/wire.hpp"

namespace pgsluice::protocol {

struct MessageView {
    char type = 0;
    std::uint32_t length = 0;  // as on the wire: counts itself, not the type byte
    Bytes body;                // the whole body when the visitor inspects this type, else empty
    std::size_t offset = 0;    // where its type byte is in the scanned input (to edit it out or around it)
    std::size_t size() const { return std::size_t(length) + 1; }  // bytes on the wire
};

// What to do with the message just seen.
enum class Verdict {
    forward,      // pass it on and keep scanning
    stop_before,  // stop; the message is not consumed (e.g. a client's Terminate)
    stop_after,   // pass it on, then stop (e.g. ReadyForQuery that ends a transaction)
};

class FrameScanner {
public:
    enum class Status { need_more, stopped, error };
    struct Result {
        std::size_t consumed = 0;  // prefix of the input that is decided: forward it
        Status status = Status::need_more;
        std::string error;  // with Status::error: why the stream is not valid
    };

    // Messages longer than this are a protocol violation (PostgreSQL's own limit is 1 GB).
    explicit FrameScanner(std::uint32_t max_length = 0x3fffffff) : max_length_(max_length) {}

    // Visitor needs `bool inspects(char type, std::uint32_t length)` (should the whole body
    // be available? `length` as on the wire, so a visitor can look only at short messages)
    // and `Verdict on_message(const MessageView&)`. After `stopped`, call scan() again to go on.
    template <class Visitor>
    Result scan(Bytes input, Visitor& visitor);

    // Body bytes of a passed-through message that have not arrived yet.
    std::uint64_t body_remaining() const { return body_remaining_; }
    // True at a message boundary (nothing of a message is pending).
    bool at_boundary() const { return body_remaining_ == 0; }

    static constexpr std::size_t kHeaderSize = 5;

private:
    static std::string hex_byte(std::uint8_t b) {
        const char* digits = "0123456789abcdef";
        return {digits[b >> 4], digits[b & 15]};
    }

    std::uint32_t max_length_;
    std::uint64_t body_remaining_ = 0;
    bool stop_when_body_done_ = false;
};

template <class Visitor>
FrameScanner::Result FrameScanner::scan(Bytes input, Visitor& visitor) {
    Result result;
    std::size_t pos = 0;
    if (body_remaining_ > 0) {
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, input.size()));
        body_remaining_ -= take;
        pos += take;
        if (body_remaining_ == 0 && stop_when_body_done_) {
            stop_when_body_done_ = false;
            result.consumed = pos;
            result.status = Status::stopped;
            return result;
        }
    }
    while (body_remaining_ == 0) {
        if (input.size() - pos < kHeaderSize) break;
        const std::uint8_t* header = input.data() + pos;
        MessageView message;
        message.offset = pos;
        message.type = static_cast<char>(header[0]);
        message.length = read_u32(header + 1);
        if (message.length < 4 || message.length > max_length_) {
            result.consumed = pos;
            result.status = Status::error;
            result.error = "invalid message length " + std::to_string(message.length) +
                           " for message type 0x" + hex_byte(header[0]);
            return result;
        }
        if (visitor.inspects(message.type, message.length)) {
            if (input.size() - pos < message.size()) break;  // wait for the whole message
            message.body = input.subspan(pos + kHeaderSize, message.length - 4);
        }
        const Verdict verdict = visitor.on_message(message);
        if (verdict == Verdict::stop_before) {
            result.consumed = pos;
            result.status = Status::stopped;
            return result;
        }
        const std::size_t available = input.size() - pos;
        if (available >= message.size()) {
            pos += message.size();
        } else {  // the body streams through in later reads
            body_remaining_ = message.size() - available;
            pos = input.size();
        }
        if (verdict == Verdict::stop_after) {
            if (body_remaining_ > 0) {
                stop_when_body_done_ = true;
                break;
            }
            result.consumed = pos;
            result.status = Status::stopped;
            return result;
        }
    }
    result.consumed = pos;
    return result;
}

}  // namespace pgsluice::protocol
