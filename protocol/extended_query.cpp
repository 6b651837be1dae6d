// Decoders and encoders for the messages in extended_query.hpp.
#include "protocol/extended_query.hpp"

#include "protocol/messages.hpp"

namespace pgsluice::protocol {

namespace {
std::optional<StatementOrPortal> parse_statement_or_portal(Bytes body) {
    BodyReader reader(body);
    auto kind = reader.u8();
    auto name = reader.cstring();
    if (!kind || !name || reader.remaining() != 0) return std::nullopt;
    if (*kind != StatementOrPortal::kStatement && *kind != StatementOrPortal::kPortal) return std::nullopt;
    return StatementOrPortal{static_cast<char>(*kind), *name};
}
}  // namespace

std::optional<Parse> parse_parse(Bytes body) {
    BodyReader reader(body);
    auto statement = reader.cstring();
    auto query = reader.cstring();
    auto count = reader.u16();
    if (!statement || !query || !count) return std::nullopt;
    if (reader.remaining() != std::size_t(*count) * 4) return std::nullopt;
    Parse parse{*statement, *query, {}};
    parse.parameter_types.reserve(*count);
    for (std::uint16_t i = 0; i < *count; ++i) parse.parameter_types.push_back(*reader.u32());
    return parse;
}

std::optional<Bind> parse_bind(Bytes body) {
    BodyReader reader(body);
    auto portal = reader.cstring();
    auto statement = reader.cstring();
    // The rest must at least hold the three counts (formats, values, result formats); its
    // inside is the server's to check.
    if (!portal || !statement || reader.remaining() < 6) return std::nullopt;
    return Bind{*portal, *statement, reader.rest()};
}

std::optional<BindNames> parse_bind_names(Bytes body_prefix) {
    BodyReader reader(body_prefix);
    auto portal = reader.cstring();
    auto statement = reader.cstring();
    if (!portal || !statement) return std::nullopt;
    return BindNames{*portal, *statement, portal->size() + statement->size() + 2};
}

std::optional<StatementOrPortal> parse_describe(Bytes body) { return parse_statement_or_portal(body); }
std::optional<StatementOrPortal> parse_close(Bytes body) { return parse_statement_or_portal(body); }

std::optional<Execute> parse_execute(Bytes body) {
    BodyReader reader(body);
    auto portal = reader.cstring();
    auto max_rows = reader.u32();
    if (!portal || !max_rows || reader.remaining() != 0) return std::nullopt;
    return Execute{*portal, *max_rows};
}

bool is_empty_body(Bytes body) { return body.empty(); }

void append_parse(std::string& out, std::string_view statement, std::string_view query,
                  const std::vector<std::uint32_t>& parameter_types) {
    MessageWriter writer(out);
    writer.begin(frontend::kParse).cstring(statement).cstring(query).u16(static_cast<std::uint16_t>(parameter_types.size()));
    for (auto oid : parameter_types) writer.u32(oid);
    writer.finish();
}

void append_bind(std::string& out, const Bind& bind, std::string_view statement) {
    MessageWriter(out).begin(frontend::kBind).cstring(bind.portal).cstring(statement).raw(bind.rest).finish();
}

void append_bind_head(std::string& out, std::string_view portal, std::string_view statement, std::size_t rest_size) {
    const auto length = static_cast<std::uint32_t>(4 + portal.size() + 1 + statement.size() + 1 + rest_size);
    MessageWriter(out).begin(frontend::kBind).cstring(portal).cstring(statement);
    // finish() would count only what is written here: patch the length for the whole message.
    const auto at = out.size() - (portal.size() + statement.size() + 2) - 4;
    out[at] = char(length >> 24);
    out[at + 1] = char(length >> 16);
    out[at + 2] = char(length >> 8);
    out[at + 3] = char(length);
}

void append_describe(std::string& out, char kind, std::string_view name) {
    MessageWriter(out).begin(frontend::kDescribe).u8(static_cast<std::uint8_t>(kind)).cstring(name).finish();
}

void append_close(std::string& out, char kind, std::string_view name) {
    MessageWriter(out).begin(frontend::kClose).u8(static_cast<std::uint8_t>(kind)).cstring(name).finish();
}

void append_execute(std::string& out, std::string_view portal, std::uint32_t max_rows) {
    MessageWriter(out).begin(frontend::kExecute).cstring(portal).u32(max_rows).finish();
}

void append_sync(std::string& out) { MessageWriter(out).begin(frontend::kSync).finish(); }
void append_flush(std::string& out) { MessageWriter(out).begin(frontend::kFlush).finish(); }

void append_parse_complete(std::string& out) { MessageWriter(out).begin(backend::kParseComplete).finish(); }
void append_close_complete(std::string& out) { MessageWriter(out).begin(backend::kCloseComplete).finish(); }

}  // namespace pgsluice::protocol
