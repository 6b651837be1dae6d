// Startup packet parsing and encoding; errors match PostgreSQL's ProcessStartupPacket.
#include "protocol/startup.hpp"

#include "protocol/sqlstate.hpp"

namespace pgsluice::protocol {

const std::string* StartupMessage::find(std::string_view name) const {
    for (const auto& [key, value] : parameters)
        if (key == name) return &value;
    return nullptr;
}

std::string StartupMessage::user() const {
    const auto* user = find("user");
    return user ? *user : std::string();
}

std::string StartupMessage::database() const {
    const auto* database = find("database");
    return database && !database->empty() ? *database : user();
}

std::vector<std::string> StartupMessage::protocol_options() const {
    std::vector<std::string> options;
    for (const auto& [key, value] : parameters)
        if (key.starts_with("_pq_.")) options.push_back(key);
    return options;
}

std::optional<StartupError> check_startup_length(std::uint32_t length) {
    if (length < 8 || length > kMaxStartupPacketLength)
        return StartupError{sqlstate::kProtocolViolation, "invalid length of startup packet"};
    return std::nullopt;
}

std::variant<StartupPacket, StartupError> parse_startup_packet(Bytes body) {
    BodyReader reader(body);
    auto code = reader.u32();
    if (!code) return StartupError{sqlstate::kProtocolViolation, "invalid length of startup packet"};

    if (*code == kSslRequestCode) return StartupPacket{SslRequest{}};
    if (*code == kGssEncRequestCode) return StartupPacket{GssEncRequest{}};
    if (*code == kCancelRequestCode) {
        auto pid = reader.u32();
        auto key = reader.u32();
        if (!pid || !key || reader.remaining() != 0)
            return StartupError{sqlstate::kProtocolViolation, "invalid length of cancel request"};
        return StartupPacket{CancelRequest{*pid, *key}};
    }

    StartupMessage message;
    message.major = static_cast<std::uint16_t>(*code >> 16);
    message.minor = static_cast<std::uint16_t>(*code & 0xffff);
    if (message.major != 3) {
        return StartupError{sqlstate::kFeatureNotSupported,
                            "unsupported frontend protocol " + std::to_string(message.major) + "." +
                                std::to_string(message.minor) + ": server supports 3.0 to 3.0"};
    }
    // Name/value pairs, each NUL-terminated, then one more NUL.
    while (true) {
        auto name = reader.cstring();
        if (!name)
            return StartupError{sqlstate::kProtocolViolation,
                                "invalid startup packet layout: expected terminator as last byte"};
        if (name->empty()) break;
        auto value = reader.cstring();
        if (!value)
            return StartupError{sqlstate::kProtocolViolation,
                                "invalid startup packet layout: expected terminator as last byte"};
        message.parameters.emplace_back(std::string(*name), std::string(*value));
    }
    if (reader.remaining() != 0)
        return StartupError{sqlstate::kProtocolViolation,
                            "invalid startup packet layout: expected terminator as last byte"};
    if (message.user().empty())
        return StartupError{sqlstate::kInvalidAuthorizationSpecification,
                            "no PostgreSQL user name specified in startup packet"};
    return StartupPacket{std::move(message)};
}

std::string encode_startup_message(const std::vector<std::pair<std::string, std::string>>& parameters) {
    std::string out;
    MessageWriter writer(out);
    writer.begin_untyped().u32(kProtocolVersion3);
    for (const auto& [name, value] : parameters) writer.cstring(name).cstring(value);
    writer.u8(0).finish();
    return out;
}

std::string encode_cancel_request(std::uint32_t process_id, std::uint32_t secret_key) {
    std::string out;
    MessageWriter(out).begin_untyped().u32(kCancelRequestCode).u32(process_id).u32(secret_key).finish();
    return out;
}

std::string encode_ssl_request() {
    std::string out;
    MessageWriter(out).begin_untyped().u32(kSslRequestCode).finish();
    return out;
}

}  // namespace pgsluice::protocol

namespace pgsluice::protocol {

// Splits on unescaped spaces; a backslash escapes the next character (libpq's convention).
std::optional<std::vector<std::pair<std::string, std::string>>> parse_startup_options(std::string_view options) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (std::size_t i = 0; i < options.size(); ++i) {
        char c = options[i];
        if (c == '\\' && i + 1 < options.size()) {
            word.push_back(options[++i]);
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else {
            word.push_back(c);
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(word));

    std::vector<std::pair<std::string, std::string>> settings;
    auto add = [&](std::string_view assignment) {
        auto eq = assignment.find('=');
        if (eq == std::string_view::npos || eq == 0) return false;
        std::string name(assignment.substr(0, eq));
        for (auto& ch : name)
            if (ch == '-') ch = '_';
        settings.emplace_back(std::move(name), std::string(assignment.substr(eq + 1)));
        return true;
    };
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string_view w = words[i];
        if (w == "-c") {
            if (i + 1 >= words.size() || !add(words[++i])) return std::nullopt;
        } else if (w.starts_with("-c")) {
            if (!add(w.substr(2))) return std::nullopt;
        } else if (w.starts_with("--")) {
            if (!add(w.substr(2))) return std::nullopt;
        } else {
            return std::nullopt;
        }
    }
    return settings;
}

}  // namespace pgsluice::protocol
