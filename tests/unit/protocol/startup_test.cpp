// Startup packets are parsed, and refused, the way PostgreSQL does it.
#include <catch2/catch.hpp>

#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"

using namespace pgsluice::protocol;

namespace {
// The body of a packet as encode_*() builds it, without its length word.
std::variant<StartupPacket, StartupError> parse_encoded(const std::string& packet) {
    REQUIRE(packet.size() >= 4);
    REQUIRE(read_u32(reinterpret_cast<const std::uint8_t*>(packet.data())) == packet.size());
    return parse_startup_packet(Bytes(reinterpret_cast<const std::uint8_t*>(packet.data()) + 4, packet.size() - 4));
}
}  // namespace

TEST_CASE("a StartupMessage round trips with its parameters in order", "[protocol][startup]") {
    auto parsed = parse_encoded(encode_startup_message({{"user", "app"}, {"database", "shop"}, {"application_name", "psql"}}));
    auto& message = std::get<StartupMessage>(std::get<StartupPacket>(parsed));
    CHECK(message.major == 3);
    CHECK(message.minor == 0);
    CHECK(message.user() == "app");
    CHECK(message.database() == "shop");
    REQUIRE(message.parameters.size() == 3);
    CHECK(message.parameters[2].second == "psql");
}

TEST_CASE("the database defaults to the user name", "[protocol][startup]") {
    auto parsed = parse_encoded(encode_startup_message({{"user", "alice"}}));
    CHECK(std::get<StartupMessage>(std::get<StartupPacket>(parsed)).database() == "alice");
}

TEST_CASE("SSLRequest, GSSENCRequest and CancelRequest are recognised", "[protocol][startup]") {
    CHECK(std::holds_alternative<SslRequest>(std::get<StartupPacket>(parse_encoded(encode_ssl_request()))));
    auto cancel = parse_encoded(encode_cancel_request(1234, 0xdeadbeef));
    auto& request = std::get<CancelRequest>(std::get<StartupPacket>(cancel));
    CHECK(request.process_id == 1234);
    CHECK(request.secret_key == 0xdeadbeef);
    std::string gss;
    MessageWriter(gss).begin_untyped().u32(kGssEncRequestCode).finish();
    CHECK(std::holds_alternative<GssEncRequest>(std::get<StartupPacket>(parse_encoded(gss))));
}

TEST_CASE("startup lengths outside 8..10000 are PostgreSQL's invalid length error", "[protocol][startup]") {
    CHECK(check_startup_length(7)->sqlstate == std::string(sqlstate::kProtocolViolation));
    CHECK(check_startup_length(10001)->message == "invalid length of startup packet");
    CHECK_FALSE(check_startup_length(8).has_value());
    CHECK_FALSE(check_startup_length(10000).has_value());
}

TEST_CASE("malformed startup messages are refused with a SQLSTATE", "[protocol][startup]") {
    SECTION("protocol 2 is not supported") {
        std::string packet;
        MessageWriter(packet).begin_untyped().u32(2u << 16).u8(0).finish();
        auto error = std::get<StartupError>(parse_encoded(packet));
        CHECK(error.sqlstate == std::string(sqlstate::kFeatureNotSupported));
        CHECK(error.message == "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
    }
    SECTION("missing terminator") {
        std::string packet;
        MessageWriter(packet).begin_untyped().u32(kProtocolVersion3).raw(std::string("user\0app", 8)).finish();
        CHECK(std::get<StartupError>(parse_encoded(packet)).sqlstate == std::string(sqlstate::kProtocolViolation));
    }
    SECTION("no user") {
        auto error = std::get<StartupError>(parse_encoded(encode_startup_message({{"database", "x"}})));
        CHECK(error.sqlstate == std::string(sqlstate::kInvalidAuthorizationSpecification));
    }
    SECTION("a cancel request of the wrong size") {
        std::string packet;
        MessageWriter(packet).begin_untyped().u32(kCancelRequestCode).u32(1).finish();
        CHECK(std::get<StartupError>(parse_encoded(packet)).sqlstate == std::string(sqlstate::kProtocolViolation));
    }
}

TEST_CASE("every truncation of a valid startup body is refused, never read past", "[protocol][startup]") {
    const std::string packet = encode_startup_message({{"user", "app"}, {"database", "db"}});
    const auto cut = GENERATE_COPY(range<std::size_t>(4, packet.size() - 1));
    auto parsed = parse_startup_packet(Bytes(reinterpret_cast<const std::uint8_t*>(packet.data()) + 4, cut - 4));
    CHECK(std::holds_alternative<StartupError>(parsed));
}

TEST_CASE("the options parameter yields -c and -- settings", "[protocol][startup]") {
    auto settings = parse_startup_options("-c search_path=a,b --statement-timeout=5s -cwork_mem=64MB -c x=a\\ b");
    REQUIRE(settings.has_value());
    REQUIRE(settings->size() == 4);
    CHECK((*settings)[0] == std::pair<std::string, std::string>{"search_path", "a,b"});
    CHECK((*settings)[1] == std::pair<std::string, std::string>{"statement_timeout", "5s"});
    CHECK((*settings)[2].first == "work_mem");
    CHECK((*settings)[3].second == "a b");
    CHECK_FALSE(parse_startup_options("-B 100").has_value());
    CHECK_FALSE(parse_startup_options("-c").has_value());
}
