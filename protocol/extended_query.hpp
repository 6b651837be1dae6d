// The extended-query messages a pooler must look inside to track named prepared statements
// (PostgreSQL docs, "Message Formats" and "Extended Query"): the client's Parse, Bind,
// Describe, Close, Execute, Sync and Flush, and the server's answers to them. Parsers take a
// body (after type and length), return views into it and nullopt on anything malformed; the
// encoders re-send a message under another statement name with the rest of its body copied
// byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire.hpp"

namespace pgsluice::protocol {

// Type bytes of the extended-query protocol (see messages.hpp for the others).
namespace frontend {
inline constexpr char kBind = 'B';
inline constexpr char kDescribe = 'D';
inline constexpr char kClose = 'C';
inline constexpr char kExecute = 'E';
}  // namespace frontend
namespace backend {
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kNoData = 'n';
inline constexpr char kParameterDescription = 't';
inline constexpr char kRowDescription = 'T';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kDataRow = 'D';
}  // namespace backend

// Parse: statement name ("" is the unnamed statement), query text, parameter type OIDs
// (0 means "let the server infer it").
struct Parse {
    std::string_view statement;
    std::string_view query;
    std::vector<std::uint32_t> parameter_types;
};
std::optional<Parse> parse_parse(Bytes body);

// Bind: portal and statement names; everything after the statement name (parameter formats,
// values, result formats) is kept as it came, to be copied unchanged when the name changes.
struct Bind {
    std::string_view portal;
    std::string_view statement;
    std::string_view rest;
};
std::optional<Bind> parse_bind(Bytes body);
// Only the two names of a Bind, from the start of its body (a long Bind need not be buffered
// whole): `rest_offset` is where the body goes on after the statement name's NUL.
struct BindNames {
    std::string_view portal;
    std::string_view statement;
    std::size_t rest_offset = 0;
};
std::optional<BindNames> parse_bind_names(Bytes body_prefix);

// Describe and Close name either a prepared statement ('S') or a portal ('P').
struct StatementOrPortal {
    static constexpr char kStatement = 'S';
    static constexpr char kPortal = 'P';
    char kind = kStatement;
    std::string_view name;
    bool is_statement() const { return kind == kStatement; }
};
std::optional<StatementOrPortal> parse_describe(Bytes body);
std::optional<StatementOrPortal> parse_close(Bytes body);

// Execute: portal name and the most rows to return (0: all).
struct Execute {
    std::string_view portal;
    std::uint32_t max_rows = 0;
};
std::optional<Execute> parse_execute(Bytes body);

// Sync and Flush have empty bodies; anything else in them is malformed.
bool is_empty_body(Bytes body);

// ---- encoders: the client's messages re-sent towards a server ----
void append_parse(std::string& out, std::string_view statement, std::string_view query,
                  const std::vector<std::uint32_t>& parameter_types);
// The same Bind with `statement` in place of its statement name; portal and rest unchanged.
void append_bind(std::string& out, const Bind& bind, std::string_view statement);
// The start of that Bind up to its new statement name, for a forwarder that sends the rest
// (from BindNames::rest_offset, `rest_size` bytes) straight from its read buffer.
void append_bind_head(std::string& out, std::string_view portal, std::string_view statement, std::size_t rest_size);
void append_describe(std::string& out, char kind, std::string_view name);
void append_close(std::string& out, char kind, std::string_view name);
void append_execute(std::string& out, std::string_view portal, std::uint32_t max_rows);
void append_sync(std::string& out);
void append_flush(std::string& out);

// ---- encoders: answers pgsluice gives a client itself (CommandComplete: result_set.hpp) ----
void append_parse_complete(std::string& out);
void append_close_complete(std::string& out);

// ---- the server's answers ----
// Does this backend message type end the answer to one frontend message? The answer to a
// Parse is ParseComplete, to a Bind BindComplete, to a Close CloseComplete, to a Describe
// RowDescription or NoData (after ParameterDescription for a statement), to an Execute
// CommandComplete, EmptyQueryResponse or PortalSuspended, and to a Sync or a Query
// ReadyForQuery. ErrorResponse ends whatever was running (and, in the extended protocol,
// makes the server skip to the next Sync).
inline bool is_extended_answer(char type) {
    switch (type) {
        case backend::kParseComplete:
        case backend::kBindComplete:
        case backend::kCloseComplete:
        case backend::kNoData:
        case backend::kParameterDescription:
        case backend::kRowDescription:
        case backend::kPortalSuspended:
        case backend::kEmptyQueryResponse:
        case 'C':  // CommandComplete
        case 'E':  // ErrorResponse
        case 'Z':  // ReadyForQuery
            return true;
        default:
            return false;
    }
}

}  // namespace pgsluice::protocol
