// The untyped packets a client may open a connection with: StartupMessage, SSLRequest,
// GSSENCRequest, CancelRequest. Parsed the way PostgreSQL's postmaster parses them, and
// refused with the errors it would give.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/wire.hpp"

namespace pgsluice::protocol {

inline constexpr std::uint32_t kProtocolVersion3 = 196608;  // 3.0
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;
inline constexpr std::uint32_t kCancelRequestCode = 80877102;
// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
inline constexpr std::uint32_t kMaxStartupPacketLength = 10000;

struct StartupMessage {
    std::uint16_t major = 3;
    std::uint16_t minor = 0;
    std::vector<std::pair<std::string, std::string>> parameters;  // in the order sent

    const std::string* find(std::string_view name) const;
    std::string user() const;      // empty when absent
    std::string database() const;  // defaults to the user, as in PostgreSQL
    // Names starting with "_pq_." that a 3.0 server does not know (for NegotiateProtocolVersion).
    std::vector<std::string> protocol_options() const;
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
    std::uint32_t process_id = 0;
    std::uint32_t secret_key = 0;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

struct StartupError {
    const char* sqlstate;
    std::string message;
};

// The 4-byte length that opens every startup packet; an error when out of PostgreSQL's bounds.
std::optional<StartupError> check_startup_length(std::uint32_t length);

// `body` is the packet after its length word (length - 4 bytes).
std::variant<StartupPacket, StartupError> parse_startup_packet(Bytes body);

// Encoders, for the connections pgsluice itself opens to servers.
std::string encode_startup_message(const std::vector<std::pair<std::string, std::string>>& parameters);
std::string encode_cancel_request(std::uint32_t process_id, std::uint32_t secret_key);
std::string encode_ssl_request();

}  // namespace pgsluice::protocol

namespace pgsluice::protocol {
// The "options" startup parameter ("-c name=value --name=value ..."), as settings.
// nullopt when it holds anything other than settings (PostgreSQL's other switches).
std::optional<std::vector<std::pair<std::string, std::string>>> parse_startup_options(std::string_view options);
}  // namespace pgsluice::protocol
