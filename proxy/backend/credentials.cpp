// Builds the per-user credentials of a config snapshot.
#include "proxy/backend/credentials.hpp"

#include <openssl/rand.h>

namespace pgsluice::proxy {

namespace {
std::string random_salt() {
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("RAND_bytes failed");
    return std::string(reinterpret_cast<const char*>(salt), sizeof salt);
}
}  // namespace

Credentials::Credentials(const config::Config& config) {
    for (const auto& [name, user] : config.users) {
        UserCredentials entry;
        entry.name = name;
        if (user.password) {
            if (user.password->kind == config::Secret::Kind::scram_verifier) {
                entry.verifier = protocol::scram::Verifier::parse(user.password->value);
            } else {
                entry.plaintext = user.password->value;
                entry.verifier = protocol::scram::Verifier::from_password(
                    user.password->value, random_salt(), protocol::scram::kDefaultIterations);
            }
        }
        users_.emplace(name, std::move(entry));
    }
}

const UserCredentials* Credentials::find(const std::string& user) const {
    auto it = users_.find(user);
    return it == users_.end() ? nullptr : &it->second;
}

}  // namespace pgsluice::proxy
