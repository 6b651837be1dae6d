// Escapes control characters for a text log line, so a line is one event whatever a client
// (or a server) put in the names it sent: a newline in an application_name cannot start a
// forged line, an escape sequence cannot repaint a terminal. \n, \r and \t as themselves,
// other control characters and DEL as \xNN; everything else, UTF-8 included, unchanged.
#pragma once

#include <string>
#include <string_view>

namespace pgsluice::proxy {

inline bool needs_log_escape(std::string_view text) {
    for (const char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}

inline void append_log_escaped(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : text) {
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    out += "\\x";
                    out += kHex[(c >> 4) & 0xf];
                    out += kHex[c & 0xf];
                } else {
                    out += c;
                }
        }
    }
}

}  // namespace pgsluice::proxy
