// The extended-query messages a pooler renames: byte-exact encodings, parsers that give
// back what the encoders wrote, refuse truncated or padded bodies, and a Bind whose name
// changes keeps every other byte.
#include <catch2/catch.hpp>

#include "protocol/extended_query.hpp"
#include "protocol/frame_scanner.hpp"

using namespace pgsluice::protocol;

namespace {
Bytes body_of(const std::string& message) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(message.data()) + 5, message.size() - 5);
}
Bytes bytes(const std::string& s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
}  // namespace

TEST_CASE("Parse is byte-exact and parses back with its parameter types", "[protocol][extended]") {
    std::string out;
    append_parse(out, "s1", "select $1", {23});
    CHECK(out == std::string("P\0\0\0\x17s1\0select $1\0\0\x01\0\0\0\x17", 24));
    auto parse = parse_parse(body_of(out));
    REQUIRE(parse);
    CHECK(parse->statement == "s1");
    CHECK(parse->query == "select $1");
    CHECK(parse->parameter_types == std::vector<std::uint32_t>{23});

    out.clear();
    append_parse(out, "", "select 1", {});
    parse = parse_parse(body_of(out));
    REQUIRE(parse);
    CHECK(parse->statement.empty());
    CHECK(parse->parameter_types.empty());
}

TEST_CASE("a Parse whose parameter count disagrees with its body is malformed", "[protocol][extended]") {
    std::string out;
    append_parse(out, "s1", "select $1", {23, 25});
    const auto whole = out.substr(5);
    CHECK(parse_parse(bytes(whole)));
    CHECK_FALSE(parse_parse(bytes(whole.substr(0, whole.size() - 1))));  // one OID cut short
    CHECK_FALSE(parse_parse(bytes(whole + "x")));                         // trailing garbage
    CHECK_FALSE(parse_parse(bytes(std::string("s1\0select", 9))));       // no terminator
    CHECK_FALSE(parse_parse(bytes(std::string("s1\0q\0", 5))));           // no count
}

TEST_CASE("a Bind renamed keeps its portal and every byte after the statement name", "[protocol][extended]") {
    // portal "p", statement "client_name", 1 format (binary), 2 values (NULL, "ab"), 1 result format
    const std::string rest("\0\x01\0\x01\0\x02\xff\xff\xff\xff\0\0\0\x02" "ab\0\x01\0\x01", 20);
    const std::string body = std::string("p\0client_name\0", 14) + rest;
    auto bind = parse_bind(bytes(body));
    REQUIRE(bind);
    CHECK(bind->portal == "p");
    CHECK(bind->statement == "client_name");
    CHECK(bind->rest == rest);

    std::string out;
    append_bind(out, *bind, "pgsluice_7");
    CHECK(out == std::string("B\0\0\0\x25", 5) + std::string("p\0pgsluice_7\0", 13) + rest);
    auto again = parse_bind(body_of(out));
    REQUIRE(again);
    CHECK(again->statement == "pgsluice_7");
    CHECK(again->rest == rest);
}

TEST_CASE("a Bind too short to hold its counts is malformed", "[protocol][extended]") {
    CHECK_FALSE(parse_bind(bytes(std::string("\0s\0\0\0\0\0\0", 8))));
    CHECK(parse_bind(bytes(std::string("\0s\0\0\0\0\0\0\0", 9))));
    CHECK_FALSE(parse_bind(bytes(std::string("\0s", 2))));
}

TEST_CASE("Describe and Close name a statement or a portal", "[protocol][extended]") {
    std::string out;
    append_describe(out, 'S', "s1");
    CHECK(out == std::string("D\0\0\0\x08Ss1\0", 9));
    auto describe = parse_describe(body_of(out));
    REQUIRE(describe);
    CHECK(describe->is_statement());
    CHECK(describe->name == "s1");

    out.clear();
    append_close(out, 'P', "");
    CHECK(out == std::string("C\0\0\0\x06P\0", 7));
    auto close = parse_close(body_of(out));
    REQUIRE(close);
    CHECK_FALSE(close->is_statement());
    CHECK(close->name.empty());

    CHECK_FALSE(parse_close(bytes(std::string("Xs1\0", 4))));   // neither S nor P
    CHECK_FALSE(parse_close(bytes(std::string("Ss1", 3))));     // no terminator
    CHECK_FALSE(parse_describe(bytes(std::string("Ss1\0x", 5))));  // trailing byte
    CHECK_FALSE(parse_describe(bytes(std::string())));
}

TEST_CASE("Execute, Sync and Flush", "[protocol][extended]") {
    std::string out;
    append_execute(out, "", 0);
    CHECK(out == std::string("E\0\0\0\x09\0\0\0\0\0", 10));
    auto execute = parse_execute(body_of(out));
    REQUIRE(execute);
    CHECK(execute->portal.empty());
    CHECK(execute->max_rows == 0);
    CHECK_FALSE(parse_execute(bytes(std::string("\0\0\0", 3))));

    out.clear();
    append_sync(out);
    append_flush(out);
    CHECK(out == std::string("S\0\0\0\x04H\0\0\0\x04", 10));
    CHECK(is_empty_body(Bytes{}));
}

TEST_CASE("answers pgsluice gives itself are byte-exact", "[protocol][extended]") {
    std::string out;
    append_parse_complete(out);
    append_close_complete(out);
    CHECK(out == std::string("1\0\0\0\x04" "3\0\0\0\x04", 10));
}

TEST_CASE("the backend messages that end the answer to one frontend message", "[protocol][extended]") {
    for (char type : std::string("123ntTsICEZ")) CHECK(is_extended_answer(type));
    for (char type : std::string("DNSAGHdc")) CHECK_FALSE(is_extended_answer(type));
}

TEST_CASE("a renamed stream frames and parses the same whatever the split", "[protocol][extended]") {
    std::string stream;
    append_parse(stream, "pgsluice_1", "select $1::int", {23});
    Bind bind{"", "s", std::string_view("\0\0\0\x01\0\0\0\x01" "7\0\0", 11)};
    append_bind(stream, bind, "pgsluice_1");
    append_describe(stream, 'P', "");
    append_execute(stream, "", 0);
    append_close(stream, 'S', "pgsluice_1");
    append_sync(stream);
    struct Collect {
        std::string types;
        bool inspects(char, std::uint32_t) const { return true; }
        Verdict on_message(const MessageView& message) {
            types.push_back(message.type);
            bool ok = true;
            switch (message.type) {
                case 'P': ok = parse_parse(message.body).has_value(); break;
                case 'B': ok = parse_bind(message.body).has_value(); break;
                case 'D': ok = parse_describe(message.body).has_value(); break;
                case 'E': ok = parse_execute(message.body).has_value(); break;
                case 'C': ok = parse_close(message.body).has_value(); break;
                default: break;
            }
            CHECK(ok);
            return Verdict::forward;
        }
    };
    const auto split = GENERATE_COPY(range(std::size_t(0), stream.size()));
    Collect collect;
    FrameScanner scanner;
    std::string held = stream.substr(0, split);
    auto result = scanner.scan(bytes(held), collect);
    held.erase(0, result.consumed);
    held += stream.substr(split);
    result = scanner.scan(bytes(held), collect);
    CHECK(result.consumed == held.size());
    CHECK(collect.types == "PBDECS");
}

TEST_CASE("a Bind's head renamed plus its original rest is the whole renamed Bind", "[protocol][extended]") {
    const std::string rest("\0\0\0\x01\0\0\0\x01" "7\0\0", 11);
    const std::string body = std::string("portal\0s1\0", 10) + rest;
    const std::string prefix = body.substr(0, 12);  // a prefix is enough
    auto names = parse_bind_names(bytes(prefix));
    REQUIRE(names);
    CHECK(names->portal == "portal");
    CHECK(names->statement == "s1");
    CHECK(names->rest_offset == 10);
    std::string head;
    append_bind_head(head, names->portal, "pgsluice_12", body.size() - names->rest_offset);
    std::string whole;
    append_bind(whole, Bind{"portal", "s1", rest}, "pgsluice_12");
    CHECK(head + rest == whole);
    CHECK_FALSE(parse_bind_names(bytes(std::string("portal\0s1", 9))));
}
