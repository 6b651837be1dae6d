// The frame scanner over any byte stream, split into reads at points the input chooses.
// Properties: it never claims more bytes than it was given; it keeps back at most one header
// or one inspected message; and the messages it reports (type, length, inspected bodies),
// where it stops and where it fails are the same however the stream is split.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "protocol/frame_scanner.hpp"

using pgsluice::protocol::Bytes;
using pgsluice::protocol::FrameScanner;
using pgsluice::protocol::MessageView;
using pgsluice::protocol::Verdict;

namespace {

constexpr std::uint32_t kMaxLength = 1 << 16;  // small, so lengths above it are reachable

struct Seen {
    char type;
    std::uint32_t length;
    std::string body;
    bool operator==(const Seen&) const = default;
};

struct Outcome {
    std::vector<Seen> messages;
    bool failed = false;
    bool terminated = false;
    std::size_t forwarded = 0;
    bool operator==(const Outcome& other) const {
        return messages == other.messages && failed == other.failed && terminated == other.terminated &&
               forwarded == other.forwarded;
    }
};

// Like the forwarders: inspects a few types, stops before 'X' (the session ends there) and
// after 'Z' (a server goes back to its pool, then scanning goes on).
struct Visitor {
    std::uint8_t inspected_mask;
    Outcome& outcome;
    bool inspects(char type, std::uint32_t = 0) const {
        switch (type) {
            case 'Z': return inspected_mask & 1;
            case 'S': return inspected_mask & 2;
            case 'E': return inspected_mask & 4;
            case 'Q': return inspected_mask & 8;
            default: return false;
        }
    }
    Verdict on_message(const MessageView& message) {
        const bool inspected = inspects(message.type);
        FUZZ_CHECK(message.length >= 4 && message.length <= kMaxLength);
        if (inspected) FUZZ_CHECK(message.body.size() == message.length - 4);
        else FUZZ_CHECK(message.body.empty());
        if (message.type == 'X') {
            outcome.terminated = true;
            return Verdict::stop_before;
        }
        outcome.messages.push_back(
            {message.type, message.length, std::string(message.body.begin(), message.body.end())});
        return message.type == 'Z' ? Verdict::stop_after : Verdict::forward;
    }
};

// Feeds `stream` in reads of the sizes `split` gives (cycled), as a forwarder does.
Outcome run(Bytes stream, Bytes split, std::uint8_t inspected_mask) {
    Outcome outcome;
    Visitor visitor{inspected_mask, outcome};
    FrameScanner scanner(kMaxLength);
    std::vector<std::uint8_t> pending;
    std::size_t at = 0, step = 0;
    while (at < stream.size()) {
        std::size_t read = split.empty() ? stream.size() : std::size_t(split[step++ % split.size()]) + 1;
        read = std::min(read, stream.size() - at);
        pending.insert(pending.end(), stream.begin() + at, stream.begin() + at + read);
        at += read;
        while (true) {
            auto result = scanner.scan(Bytes(pending.data(), pending.size()), visitor);
            FUZZ_CHECK(result.consumed <= pending.size());
            outcome.forwarded += result.consumed;
            pending.erase(pending.begin(), pending.begin() + result.consumed);
            if (result.status == FrameScanner::Status::error) {
                FUZZ_CHECK(!result.error.empty());
                outcome.failed = true;
                return outcome;
            }
            if (outcome.terminated) return outcome;
            if (result.status == FrameScanner::Status::need_more) break;
        }
        // What is kept back: part of a header, or part of a message whose body is inspected.
        FUZZ_CHECK(pending.size() < FrameScanner::kHeaderSize || pending.size() < kMaxLength + 1);
        if (!scanner.at_boundary()) FUZZ_CHECK(pending.empty());
    }
    return outcome;
}

}  // namespace

// Input: one byte choosing the inspected types, one byte N, N bytes of read sizes, the stream.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t mask = data[0];
    const std::size_t split_size = std::min<std::size_t>(data[1], size - 2);
    const Bytes split(data + 2, split_size);
    const Bytes stream(data + 2 + split_size, size - 2 - split_size);
    const Outcome whole = run(stream, {}, mask);
    const Outcome pieces = run(stream, split, mask);
    const std::uint8_t one_byte[] = {0};
    const Outcome bytewise = run(stream, Bytes(one_byte, 1), mask);
    FUZZ_CHECK(whole == pieces);
    FUZZ_CHECK(whole == bytewise);
    if (!whole.failed && !whole.terminated) FUZZ_CHECK(whole.forwarded <= stream.size());
    return 0;
}
