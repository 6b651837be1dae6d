// What pgsluice knows about each user's secret, prepared once per config snapshot: the
// SCRAM verifier clients are checked against (derived once from a plaintext password, so a
// login costs a few HMACs, not 4096 rounds of PBKDF2) and the plaintext, when configured,
// for MD5 / cleartext clients and for logging in to PostgreSQL.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "protocol/auth/scram.hpp"

namespace pgsluice::proxy {

struct UserCredentials {
    std::string name;
    std::optional<protocol::scram::Verifier> verifier;
    std::optional<std::string> plaintext;  // secret: never log
    std::optional<std::string> md5_hash;   // "md5<hex>" as pg_shadow keeps it (auth_query); secret
};

class Credentials {
public:
    explicit Credentials(const config::Config& config);
    const UserCredentials* find(const std::string& user) const;

private:
    std::map<std::string, UserCredentials> users_;
};

}  // namespace pgsluice::proxy
