// MD5 password hashing as PostgreSQL stores and salts it; base64 per RFC 4648.
#include <catch2/catch.hpp>

#include "protocol/auth/md5.hpp"
#include "protocol/base64.hpp"

using namespace pgsluice::protocol;

TEST_CASE("MD5 stored hash matches PostgreSQL's md5(password || user)", "[protocol][md5]") {
    CHECK(md5::stored_hash("postgres", "postgres") == "md53175bce1d3201d16594cebf9d7eb3f9d");
}

TEST_CASE("MD5 salted response is the same from a password or its stored hash", "[protocol][md5]") {
    const md5::Salt salt{1, 2, 3, 4};
    const auto from_password = md5::salted_response("postgres", "postgres", salt);
    CHECK(from_password == "md568be9ed08db75f318087ab337aaea044");
    CHECK(md5::salted_response("postgres", "md53175bce1d3201d16594cebf9d7eb3f9d", salt) == from_password);
    CHECK(md5::equal_constant_time(from_password, from_password));
    CHECK_FALSE(md5::equal_constant_time(from_password, from_password.substr(1)));
}

TEST_CASE("base64 matches RFC 4648's test vectors both ways", "[protocol][base64]") {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [raw, encoded] : vectors) {
        CHECK(base64_encode(raw) == encoded);
        CHECK(base64_decode(encoded) == raw);
    }
}

TEST_CASE("base64 refuses bad characters, lengths and padding", "[protocol][base64]") {
    const auto bad = GENERATE(as<std::string>{}, "Zg=", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg==", "Zm 9");
    CHECK_FALSE(base64_decode(bad).has_value());
}
