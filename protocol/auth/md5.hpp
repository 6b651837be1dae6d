// PostgreSQL's MD5 password scheme: the stored form "md5" + hex(md5(password + user)) and the
// salted response "md5" + hex(md5(hex(md5(password + user)) + salt)). Kept because older
// servers and clients still use it; SCRAM is the default.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgsluice::protocol::md5 {

using Salt = std::array<std::uint8_t, 4>;

// "md5" followed by 32 hex digits.
std::string stored_hash(std::string_view user, std::string_view password);
// What the client sends in PasswordMessage for AuthenticationMD5Password(salt).
// `stored` is either a plaintext password or an "md5..." stored hash.
std::string salted_response(std::string_view user, std::string_view stored, const Salt& salt);
// Constant-time comparison of two equal-length strings (response checks).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace pgsluice::protocol::md5
