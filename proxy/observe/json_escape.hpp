// Escapes text for a JSON string literal (RFC 8259): quotes, backslashes and control
// characters. Bytes >= 0x80 pass through, so UTF-8 stays UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace pgsluice::proxy {

inline void append_json_escaped(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += "\\u00";
                    out += kHex[(c >> 4) & 0xf];
                    out += kHex[c & 0xf];
                } else {
                    out += c;
                }
        }
    }
}

}  // namespace pgsluice::proxy
