// PostgreSQL's MD5 password hashing with OpenSSL's EVP digest API.
#include "protocol/auth/md5.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace pgsluice::protocol::md5 {

namespace {

std::string md5_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 15]);
    }
    return out;
}

bool is_stored_hash(std::string_view text) {
    if (text.size() != 35 || !text.starts_with("md5")) return false;
    for (char c : text.substr(3))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

std::string stored_hash(std::string_view user, std::string_view password) {
    std::string input(password);
    input.append(user);
    return "md5" + md5_hex(input);
}

std::string salted_response(std::string_view user, std::string_view stored, const Salt& salt) {
    std::string inner = is_stored_hash(stored) ? std::string(stored.substr(3)) : stored_hash(user, stored).substr(3);
    inner.append(reinterpret_cast<const char*>(salt.data()), salt.size());
    return "md5" + md5_hex(inner);
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pgsluice::protocol::md5
