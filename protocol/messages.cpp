// Encoders and decoders for the messages in messages.hpp.
#include "protocol/messages.hpp"

namespace pgsluice::protocol {

namespace {
void append_auth(std::string& out, AuthCode code, std::string_view extra = {}) {
    MessageWriter(out).begin(backend::kAuthentication).u32(static_cast<std::uint32_t>(code)).raw(extra).finish();
}
}  // namespace

void append_authentication_ok(std::string& out) { append_auth(out, AuthCode::ok); }

void append_authentication_cleartext_password(std::string& out) {
    append_auth(out, AuthCode::cleartext_password);
}

void append_authentication_md5_password(std::string& out, const std::array<std::uint8_t, 4>& salt) {
    append_auth(out, AuthCode::md5_password, std::string_view(reinterpret_cast<const char*>(salt.data()), 4));
}

void append_authentication_sasl(std::string& out, const std::vector<std::string>& mechanisms) {
    std::string list;
    for (const auto& mechanism : mechanisms) {
        list += mechanism;
        list.push_back('\0');
    }
    list.push_back('\0');
    append_auth(out, AuthCode::sasl, list);
}

void append_authentication_sasl_continue(std::string& out, std::string_view data) {
    append_auth(out, AuthCode::sasl_continue, data);
}

void append_authentication_sasl_final(std::string& out, std::string_view data) {
    append_auth(out, AuthCode::sasl_final, data);
}

void append_parameter_status(std::string& out, std::string_view name, std::string_view value) {
    MessageWriter(out).begin(backend::kParameterStatus).cstring(name).cstring(value).finish();
}

void append_backend_key_data(std::string& out, std::uint32_t process_id, std::uint32_t secret_key) {
    MessageWriter(out).begin(backend::kBackendKeyData).u32(process_id).u32(secret_key).finish();
}

void append_ready_for_query(std::string& out, char transaction_status) {
    MessageWriter(out).begin(backend::kReadyForQuery).u8(static_cast<std::uint8_t>(transaction_status)).finish();
}

void append_negotiate_protocol_version(std::string& out, std::uint32_t newest_minor,
                                       const std::vector<std::string>& unrecognized_options) {
    MessageWriter writer(out);
    writer.begin(backend::kNegotiateProtocolVersion)
        .u32(newest_minor)
        .u32(static_cast<std::uint32_t>(unrecognized_options.size()));
    for (const auto& option : unrecognized_options) writer.cstring(option);
    writer.finish();
}

void append_password_message(std::string& out, std::string_view password) {
    MessageWriter(out).begin(frontend::kPasswordMessage).cstring(password).finish();
}

void append_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data) {
    MessageWriter(out)
        .begin(frontend::kPasswordMessage)
        .cstring(mechanism)
        .i32(static_cast<std::int32_t>(data.size()))
        .raw(data)
        .finish();
}

void append_sasl_response(std::string& out, std::string_view data) {
    MessageWriter(out).begin(frontend::kPasswordMessage).raw(data).finish();
}

void append_query(std::string& out, std::string_view sql) {
    MessageWriter(out).begin(frontend::kQuery).cstring(sql).finish();
}

void append_terminate(std::string& out) { MessageWriter(out).begin(frontend::kTerminate).finish(); }

std::optional<Authentication> parse_authentication(Bytes body) {
    BodyReader reader(body);
    auto code = reader.u32();
    if (!code) return std::nullopt;
    Authentication auth;
    auth.code = static_cast<AuthCode>(*code);
    switch (auth.code) {
        case AuthCode::ok:
        case AuthCode::cleartext_password:
            break;
        case AuthCode::md5_password: {
            auto salt = reader.bytes(4);
            if (!salt) return std::nullopt;
            for (int i = 0; i < 4; ++i) auth.md5_salt[i] = static_cast<std::uint8_t>((*salt)[i]);
            break;
        }
        case AuthCode::sasl:
            while (true) {
                auto mechanism = reader.cstring();
                if (!mechanism) return std::nullopt;
                if (mechanism->empty()) break;
                auth.mechanisms.emplace_back(*mechanism);
            }
            break;
        case AuthCode::sasl_continue:
        case AuthCode::sasl_final:
            auth.data = std::string(reader.rest());
            break;
        default:
            break;  // unsupported methods are reported by the caller by code
    }
    return auth;
}

std::optional<ParameterStatus> parse_parameter_status(Bytes body) {
    BodyReader reader(body);
    auto name = reader.cstring();
    auto value = reader.cstring();
    if (!name || !value) return std::nullopt;
    return ParameterStatus{std::string(*name), std::string(*value)};
}

std::optional<std::string_view> parse_query_text(Bytes body) { return BodyReader(body).cstring(); }

std::optional<std::string_view> parse_parse_query_text(Bytes body) {
    BodyReader reader(body);
    if (!reader.cstring()) return std::nullopt;  // the statement's name
    return reader.cstring();
}

std::optional<std::string_view> parse_command_tag(Bytes body) { return BodyReader(body).cstring(); }

std::optional<BackendKeyData> parse_backend_key_data(Bytes body) {
    BodyReader reader(body);
    auto pid = reader.u32();
    auto key = reader.u32();
    if (!pid || !key) return std::nullopt;
    return BackendKeyData{*pid, *key};
}

std::optional<char> parse_ready_for_query(Bytes body) {
    if (body.size() != 1) return std::nullopt;
    char status = static_cast<char>(body[0]);
    if (status != 'I' && status != 'T' && status != 'E') return std::nullopt;
    return status;
}

std::optional<SaslInitialResponse> parse_sasl_initial_response(Bytes body) {
    BodyReader reader(body);
    auto mechanism = reader.cstring();
    auto length = reader.u32();
    if (!mechanism || !length) return std::nullopt;
    SaslInitialResponse response;
    response.mechanism = std::string(*mechanism);
    if (*length == 0xffffffffu) {
        if (reader.remaining() != 0) return std::nullopt;
        return response;
    }
    auto data = reader.bytes(*length);
    if (!data || reader.remaining() != 0) return std::nullopt;
    response.data = std::string(*data);
    return response;
}

std::optional<std::string> parse_password_message(Bytes body) {
    BodyReader reader(body);
    auto password = reader.cstring();
    if (!password || reader.remaining() != 0) return std::nullopt;
    return std::string(*password);
}

}  // namespace pgsluice::protocol
