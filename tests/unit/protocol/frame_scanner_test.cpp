// The streaming scanner must find the same messages however the stream is split.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"

using namespace pgsluice::protocol;

namespace {

std::string message(char type, const std::string& body) {
    std::string out;
    MessageWriter(out).begin(type).raw(body).finish();
    return out;
}

// Records what it saw; inspects ReadyForQuery and ParameterStatus, as the proxy does.
struct Recorder {
    std::vector<std::string> seen;  // "type:length" or "type:length:body"
    char stop_before = 0;
    char stop_after = 0;
    bool inspects(char type, std::uint32_t = 0) const { return type == 'Z' || type == 'S'; }
    Verdict on_message(const MessageView& m) {
        // Appended piece by piece: GCC 12 at -O2 misreads `std::string + const char*` as an
        // overlapping memcpy (-Wrestrict, GCC bug 105329).
        std::string entry(1, m.type);
        entry += ':';
        entry += std::to_string(m.length);
        if (inspects(m.type)) {
            entry += ':';
            entry += as_chars(m.body);
        }
        if (m.type == stop_before) return Verdict::stop_before;
        seen.push_back(entry);
        return m.type == stop_after ? Verdict::stop_after : Verdict::forward;
    }
};

// Feeds `stream` in two reads split at `split`, keeping unconsumed bytes like the proxy.
// Returns the bytes forwarded.
std::string feed_split(const std::string& stream, std::size_t split, Recorder& recorder, FrameScanner& scanner) {
    std::string pending;
    std::string forwarded;
    for (const std::string& chunk : {stream.substr(0, split), stream.substr(split)}) {
        pending += chunk;
        while (true) {
            auto bytes = Bytes(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size());
            auto result = scanner.scan(bytes, recorder);
            forwarded += pending.substr(0, result.consumed);
            pending.erase(0, result.consumed);
            if (result.status != FrameScanner::Status::stopped || pending.empty()) break;
        }
    }
    return forwarded;
}

}  // namespace

TEST_CASE("scanner finds every message whatever the split point", "[protocol][scanner]") {
    const std::string big_row(3000, 'x');
    const std::string stream = message('T', "rowdesc") + message('D', big_row) + message('S', std::string("TimeZone\0UTC\0", 13)) +
                               message('C', "SELECT 1") + message('Z', "I");
    const auto split = GENERATE_COPY(range<std::size_t>(0, stream.size() + 1));
    Recorder recorder;
    FrameScanner scanner;
    const auto forwarded = feed_split(stream, split, recorder, scanner);
    CHECK(forwarded == stream);
    REQUIRE(recorder.seen.size() == 5);
    CHECK(recorder.seen[0] == "T:11");
    CHECK(recorder.seen[1] == "D:3004");
    CHECK(recorder.seen[2] == std::string("S:17:TimeZone\0UTC\0", 18));
    CHECK(recorder.seen[4] == "Z:5:I");
    CHECK(scanner.at_boundary());
}

TEST_CASE("scanner streams a body larger than any buffer without holding it", "[protocol][scanner]") {
    const std::string stream = message('d', std::string(100000, 'c')) + message('c', "");
    FrameScanner scanner;
    Recorder recorder;
    // Feed in 1000-byte chunks; each is fully consumed (nothing held back) mid-body.
    std::size_t pos = 0;
    while (pos < stream.size()) {
        auto chunk = stream.substr(pos, 1000);
        auto result = scanner.scan(Bytes(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()), recorder);
        if (pos + 1000 < 100005) CHECK(result.consumed == chunk.size());
        pos += result.consumed;
        if (result.consumed == 0) break;
    }
    CHECK(recorder.seen == std::vector<std::string>{"d:100004", "c:4"});
}

TEST_CASE("scanner stops before a Terminate and leaves it unconsumed", "[protocol][scanner]") {
    const std::string stream = message('Q', std::string("select 1\0", 9)) + message('X', "");
    Recorder recorder;
    recorder.stop_before = 'X';
    FrameScanner scanner;
    auto result = scanner.scan(Bytes(reinterpret_cast<const std::uint8_t*>(stream.data()), stream.size()), recorder);
    CHECK(result.status == FrameScanner::Status::stopped);
    CHECK(result.consumed == stream.size() - 5);
}

TEST_CASE("scanner stops right after a ReadyForQuery when asked", "[protocol][scanner]") {
    const std::string stream = message('C', "SELECT 1") + message('Z', "I") + message('N', "later");
    Recorder recorder;
    recorder.stop_after = 'Z';
    FrameScanner scanner;
    auto result = scanner.scan(Bytes(reinterpret_cast<const std::uint8_t*>(stream.data()), stream.size()), recorder);
    CHECK(result.status == FrameScanner::Status::stopped);
    CHECK(result.consumed == message('C', "SELECT 1").size() + 6);
}

TEST_CASE("scanner rejects a length below four and one above its limit", "[protocol][scanner]") {
    const std::uint8_t too_short[] = {'Q', 0, 0, 0, 3};
    const std::uint8_t too_long[] = {'D', 0x7f, 0xff, 0xff, 0xff};
    for (auto bytes : {Bytes(too_short), Bytes(too_long)}) {
        Recorder recorder;
        FrameScanner scanner;
        auto result = scanner.scan(bytes, recorder);
        CHECK(result.status == FrameScanner::Status::error);
        CHECK(result.consumed == 0);
        CHECK_FALSE(result.error.empty());
    }
}
