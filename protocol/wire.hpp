// Big-endian integer helpers and a small append-only message writer. Every PostgreSQL
// message is a type byte (none for startup packets), an int32 length that counts itself,
// then the body.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pgsluice::protocol {

using Bytes = std::span<const std::uint8_t>;

inline std::uint32_t read_u32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}
inline std::uint16_t read_u16(const std::uint8_t* p) {
    return std::uint16_t((std::uint16_t(p[0]) << 8) | std::uint16_t(p[1]));
}

inline std::string_view as_chars(Bytes bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Reads fields out of a message body without ever reading past its end.
class BodyReader {
public:
    explicit BodyReader(Bytes body) : body_(body) {}

    std::optional<std::uint32_t> u32() {
        if (remaining() < 4) return std::nullopt;
        auto v = read_u32(body_.data() + pos_);
        pos_ += 4;
        return v;
    }
    std::optional<std::uint16_t> u16() {
        if (remaining() < 2) return std::nullopt;
        auto v = read_u16(body_.data() + pos_);
        pos_ += 2;
        return v;
    }
    std::optional<std::uint8_t> u8() {
        if (remaining() < 1) return std::nullopt;
        return body_[pos_++];
    }
    // A NUL-terminated string; nullopt when the terminator is missing.
    std::optional<std::string_view> cstring() {
        auto rest = as_chars(body_.subspan(pos_));
        auto nul = rest.find('\0');
        if (nul == std::string_view::npos) return std::nullopt;
        pos_ += nul + 1;
        return rest.substr(0, nul);
    }
    std::optional<std::string_view> bytes(std::size_t n) {
        if (remaining() < n) return std::nullopt;
        auto v = as_chars(body_.subspan(pos_, n));
        pos_ += n;
        return v;
    }
    std::string_view rest() {
        auto v = as_chars(body_.subspan(pos_));
        pos_ = body_.size();
        return v;
    }
    std::size_t remaining() const { return body_.size() - pos_; }

private:
    Bytes body_;
    std::size_t pos_ = 0;
};

// Builds one message into a string: begin(type), add fields, finish() patches the length.
class MessageWriter {
public:
    explicit MessageWriter(std::string& out) : out_(out) {}

    MessageWriter& begin(char type) {
        out_.push_back(type);
        return begin_untyped();
    }
    // For startup-phase packets, which have no type byte.
    MessageWriter& begin_untyped() {
        length_at_ = out_.size();
        out_.append(4, '\0');
        return *this;
    }
    MessageWriter& u32(std::uint32_t v) {
        char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
        out_.append(b, 4);
        return *this;
    }
    MessageWriter& i32(std::int32_t v) { return u32(static_cast<std::uint32_t>(v)); }
    MessageWriter& u16(std::uint16_t v) {
        char b[2] = {char(v >> 8), char(v)};
        out_.append(b, 2);
        return *this;
    }
    MessageWriter& u8(std::uint8_t v) {
        out_.push_back(static_cast<char>(v));
        return *this;
    }
    MessageWriter& cstring(std::string_view s) {
        out_.append(s);
        out_.push_back('\0');
        return *this;
    }
    MessageWriter& raw(std::string_view s) {
        out_.append(s);
        return *this;
    }
    void finish() {
        auto len = static_cast<std::uint32_t>(out_.size() - length_at_);
        out_[length_at_] = char(len >> 24);
        out_[length_at_ + 1] = char(len >> 16);
        out_[length_at_ + 2] = char(len >> 8);
        out_[length_at_ + 3] = char(len);
    }

private:
    std::string& out_;
    std::size_t length_at_ = 0;
};

}  // namespace pgsluice::protocol
