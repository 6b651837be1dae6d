// ErrorResponse / NoticeResponse encoding and decoding.
#include "protocol/error_response.hpp"

#include "protocol/messages.hpp"

namespace pgsluice::protocol {

namespace {
// Five digits or upper-case letters, as every SQLSTATE.
bool valid_sqlstate(std::string_view code) {
    if (code.size() != 5) return false;
    for (char c : code)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
    return true;
}

void append_fields(std::string& out, char type, const ErrorFields& fields) {
    MessageWriter writer(out);
    writer.begin(type);
    // What a client sees always has a severity and a real SQLSTATE, even when the fields
    // came from a server that sent an ErrorResponse without them (XX000: internal_error).
    const std::string_view severity = fields.severity.empty() ? std::string_view("ERROR") : fields.severity;
    // 'S' is localized in PostgreSQL; 'V' is the untranslated severity (since 9.6).
    writer.u8('S').cstring(severity);
    writer.u8('V').cstring(severity);
    writer.u8('C').cstring(valid_sqlstate(fields.sqlstate) ? std::string_view(fields.sqlstate) : "XX000");
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
