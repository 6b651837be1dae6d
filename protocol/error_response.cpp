// ErrorResponse / NoticeResponse encoding and decoding.
#include "protocol/error_response.hpp"

#include "protocol/messages.hpp"

namespace pgsluice::protocol {

namespace {
void append_fields(std::string& out, char type, const ErrorFields& fields) {
    MessageWriter writer(out);
    writer.begin(type);
    // 'S' is localized in PostgreSQL; 'V' is the untranslated severity (since 9.6).
    writer.u8('S').cstring(fields.severity);
    writer.u8('V').cstring(fields.severity);
    writer.u8('C').cstring(fields.sqlstate);
    writer.u8('M').cstring(fields.message);
    if (!fields.detail.empty()) writer.u8('D').cstring(fields.detail);
    if (!fields.hint.empty()) writer.u8('H').cstring(fields.hint);
    writer.u8(0).finish();
}
}  // namespace

void append_error_response(std::string& out, const ErrorFields& fields) {
    append_fields(out, backend::kErrorResponse, fields);
}

void append_notice_response(std::string& out, const ErrorFields& fields) {
    append_fields(out, backend::kNoticeResponse, fields);
}

std::string fatal_error(std::string_view sqlstate, std::string_view message) {
    std::string out;
    append_error_response(out, {"FATAL", std::string(sqlstate), std::string(message), {}, {}});
    return out;
}

std::string error(std::string_view sqlstate, std::string_view message) {
    std::string out;
    append_error_response(out, {"ERROR", std::string(sqlstate), std::string(message), {}, {}});
    return out;
}

std::optional<ErrorFields> parse_error_response(Bytes body) {
    BodyReader reader(body);
    ErrorFields fields;
    fields.severity.clear();
    while (true) {
        auto code = reader.u8();
        if (!code) return std::nullopt;
        if (*code == 0) break;
        auto value = reader.cstring();
        if (!value) return std::nullopt;
        switch (*code) {
            case 'V': fields.severity = std::string(*value); break;
            case 'S': if (fields.severity.empty()) fields.severity = std::string(*value); break;
            case 'C': fields.sqlstate = std::string(*value); break;
            case 'M': fields.message = std::string(*value); break;
            case 'D': fields.detail = std::string(*value); break;
            case 'H': fields.hint = std::string(*value); break;
            default: break;
        }
    }
    return fields;
}

}  // namespace pgsluice::protocol
