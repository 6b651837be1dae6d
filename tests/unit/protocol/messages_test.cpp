// Byte-exact encodings of the messages pgsluice builds, and parsers that refuse bad bodies.
#include <catch2/catch.hpp>

#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/server_state.hpp"

using namespace pgsluice::protocol;

namespace {
Bytes body_of(const std::string& message) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(message.data()) + 5, message.size() - 5);
}
}  // namespace

TEST_CASE("ReadyForQuery and AuthenticationOk are byte-exact", "[protocol][messages]") {
    std::string out;
    append_ready_for_query(out, 'I');
    CHECK(out == std::string("Z\0\0\0\x05I", 6));
    out.clear();
    append_authentication_ok(out);
    CHECK(out == std::string("R\0\0\0\x08\0\0\0\0", 9));
}

TEST_CASE("AuthenticationSASL lists mechanisms and parses back", "[protocol][messages]") {
    std::string out;
    append_authentication_sasl(out, {"SCRAM-SHA-256"});
    CHECK(out == std::string("R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", 24));
    auto auth = parse_authentication(body_of(out));
    REQUIRE(auth);
    CHECK(auth->code == AuthCode::sasl);
    CHECK(auth->mechanisms == std::vector<std::string>{"SCRAM-SHA-256"});
}

TEST_CASE("ErrorResponse carries severity, SQLSTATE and message and parses back", "[protocol][messages]") {
    std::string out;
    append_error_response(out, {"FATAL", "28P01", "password authentication failed for user \"a\"", {}, "try again"});
    auto fields = parse_error_response(body_of(out));
    REQUIRE(fields);
    CHECK(fields->severity == "FATAL");
    CHECK(fields->sqlstate == "28P01");
    CHECK(fields->message == "password authentication failed for user \"a\"");
    CHECK(fields->hint == "try again");
}

TEST_CASE("an ErrorResponse pgsluice sends has a severity and a real SQLSTATE even when a server's had none", "[protocol][messages]") {
    // A server's ErrorResponse without SQLSTATE or severity, as a malicious one may send it.
    static const char kBody[] = "SERROR\0Mno code\0";  // the literal's own NUL ends the fields
    const std::string from_server(kBody, sizeof kBody);
    auto fields = parse_error_response(Bytes(reinterpret_cast<const std::uint8_t*>(from_server.data()), from_server.size()));
    REQUIRE(fields);
    CHECK(fields->sqlstate.empty());
    const auto sqlstate = GENERATE(as<std::string>{}, "", "1234", "28p01", "123456", std::string("28\0P1", 5));
    fields->sqlstate = sqlstate;
    fields->severity = "";
    std::string out;
    append_error_response(out, *fields);
    auto again = parse_error_response(body_of(out));
    REQUIRE(again);
    CHECK(again->sqlstate == "XX000");
    CHECK(again->severity == "ERROR");
    CHECK(again->message == "no code");
}

TEST_CASE("SASLInitialResponse parses, and every truncation is refused", "[protocol][messages]") {
    std::string out;
    append_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=abc");
    auto parsed = parse_sasl_initial_response(body_of(out));
    REQUIRE(parsed);
    CHECK(parsed->mechanism == "SCRAM-SHA-256");
    CHECK(parsed->data == "n,,n=,r=abc");
    const auto cut = GENERATE_COPY(range<std::size_t>(5, out.size()));
    CHECK_FALSE(parse_sasl_initial_response(Bytes(reinterpret_cast<const std::uint8_t*>(out.data()) + 5, cut - 5)));
}

TEST_CASE("ParameterStatus, BackendKeyData and ReadyForQuery parse and bad bodies do not", "[protocol][messages]") {
    std::string out;
    append_parameter_status(out, "TimeZone", "UTC");
    auto status = parse_parameter_status(body_of(out));
    REQUIRE(status);
    CHECK(status->name == "TimeZone");
    CHECK(status->value == "UTC");
    out.clear();
    append_backend_key_data(out, 42, 7);
    auto key = parse_backend_key_data(body_of(out));
    REQUIRE(key);
    CHECK(key->process_id == 42);
    CHECK(key->secret_key == 7);
    const std::uint8_t bad_status[] = {'X'};
    CHECK_FALSE(parse_ready_for_query(Bytes(bad_status)));
    CHECK_FALSE(parse_parameter_status(Bytes(reinterpret_cast<const std::uint8_t*>("abc"), 3)));
}

TEST_CASE("a server is idle only when every sync point was answered", "[protocol][server_state]") {
    ServerState state;
    CHECK(state.idle());
    SECTION("simple query") {
        state.on_frontend_message('Q');
        CHECK_FALSE(state.idle());
        state.on_ready_for_query('I');
        CHECK(state.idle());
    }
    SECTION("open transaction") {
        state.on_frontend_message('Q');
        state.on_ready_for_query('T');
        CHECK_FALSE(state.idle());
    }
    SECTION("pipelined queries") {
        state.on_frontend_message('Q');
        state.on_frontend_message('Q');
        state.on_ready_for_query('I');
        CHECK_FALSE(state.idle());
        state.on_ready_for_query('I');
        CHECK(state.idle());
    }
    SECTION("extended protocol without Sync") {
        state.on_frontend_message('P');
        state.on_frontend_message('B');
        state.on_frontend_message('E');
        CHECK_FALSE(state.idle());
        state.on_frontend_message('S');
        state.on_ready_for_query('I');
        CHECK(state.idle());
    }
}
