// ErrorResponse and NoticeResponse: building the ones pgsluice sends, reading the ones
// servers send. Field codes as in the protocol docs ("Error and Notice Message Fields").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/wire.hpp"

namespace pgsluice::protocol {

struct ErrorFields {
    std::string severity = "ERROR";  // ERROR, FATAL, PANIC (or WARNING, NOTICE, ... for notices)
    std::string sqlstate;
    std::string message;
    std::string detail;  // optional
    std::string hint;    // optional
};

void append_error_response(std::string& out, const ErrorFields& fields);
void append_notice_response(std::string& out, const ErrorFields& fields);

// Shorthand for the common case: a FATAL error followed by closing the connection.
std::string fatal_error(std::string_view sqlstate, std::string_view message);
std::string error(std::string_view sqlstate, std::string_view message);

std::optional<ErrorFields> parse_error_response(Bytes body);

}  // namespace pgsluice::protocol
