// The few messages pgsluice builds or looks inside, named as in the PostgreSQL protocol docs
// ("Message Formats"). Builders append one encoded message to a string; parsers take a body
// (after type and length) and return nullopt on anything malformed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/wire.hpp"

namespace pgsluice::protocol {

// Message type bytes.
namespace backend {
inline constexpr char kAuthentication = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNegotiateProtocolVersion = 'v';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kCopyBothResponse = 'W';
}  // namespace backend
namespace frontend {
inline constexpr char kPasswordMessage = 'p';  // also SASLInitialResponse and SASLResponse
inline constexpr char kQuery = 'Q';
inline constexpr char kParse = 'P';
inline constexpr char kTerminate = 'X';
inline constexpr char kSync = 'S';
inline constexpr char kFlush = 'H';
}  // namespace frontend

// Authentication request codes (the int32 after 'R').
enum class AuthCode : std::uint32_t {
    ok = 0,
    kerberos_v5 = 2,
    cleartext_password = 3,
    md5_password = 5,
    gss = 7,
    gss_continue = 8,
    sspi = 9,
    sasl = 10,
    sasl_continue = 11,
    sasl_final = 12,
};

// ---- builders: pgsluice as a server, towards clients ----
void append_authentication_ok(std::string& out);
void append_authentication_cleartext_password(std::string& out);
void append_authentication_md5_password(std::string& out, const std::array<std::uint8_t, 4>& salt);
void append_authentication_sasl(std::string& out, const std::vector<std::string>& mechanisms);
void append_authentication_sasl_continue(std::string& out, std::string_view data);
void append_authentication_sasl_final(std::string& out, std::string_view data);
void append_parameter_status(std::string& out, std::string_view name, std::string_view value);
void append_backend_key_data(std::string& out, std::uint32_t process_id, std::uint32_t secret_key);
void append_ready_for_query(std::string& out, char transaction_status);
void append_negotiate_protocol_version(std::string& out, std::uint32_t newest_minor,
                                       const std::vector<std::string>& unrecognized_options);

// ---- builders: pgsluice as a client, towards servers ----
void append_password_message(std::string& out, std::string_view password);
void append_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void append_sasl_response(std::string& out, std::string_view data);
void append_query(std::string& out, std::string_view sql);
void append_terminate(std::string& out);

// ---- parsers ----
struct Authentication {
    AuthCode code = AuthCode::ok;
    std::array<std::uint8_t, 4> md5_salt{};  // with md5_password
    std::vector<std::string> mechanisms;       // with sasl
    std::string data;                          // with sasl_continue / sasl_final
};
std::optional<Authentication> parse_authentication(Bytes body);

struct ParameterStatus {
    std::string name;
    std::string value;
};
std::optional<ParameterStatus> parse_parameter_status(Bytes body);
// The SQL text of a client's Query, or of a Parse (after its statement name).
std::optional<std::string_view> parse_query_text(Bytes body);
std::optional<std::string_view> parse_parse_query_text(Bytes body);
// A CommandComplete's tag ("SELECT 1", "SET", ...).
std::optional<std::string_view> parse_command_tag(Bytes body);

struct BackendKeyData {
    std::uint32_t process_id = 0;
    std::uint32_t secret_key = 0;
};
std::optional<BackendKeyData> parse_backend_key_data(Bytes body);

// 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block.
std::optional<char> parse_ready_for_query(Bytes body);

struct SaslInitialResponse {
    std::string mechanism;
    std::string data;  // empty when the client sent length -1
};
std::optional<SaslInitialResponse> parse_sasl_initial_response(Bytes body);
// PasswordMessage: a NUL-terminated string.
std::optional<std::string> parse_password_message(Bytes body);

}  // namespace pgsluice::protocol
