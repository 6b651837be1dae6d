// Authenticates a client to pgsluice over its socket: SCRAM-SHA-256 (the default), MD5,
// cleartext, or trust, as the config's auth_type says.
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/error_response.hpp"
#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/credentials.hpp"

namespace pgsluice::proxy {

struct ClientAuthResult {
    bool ok = false;
    // With SCRAM: the ClientKey the client proved to hold; lets pgsluice log in to a server
    // that stores the same verifier without knowing the password.
    std::optional<protocol::scram::Key> client_key;
    protocol::ErrorFields error;  // when !ok: what the client is told
    std::string reason;           // when !ok: what the log says (never a secret)
};

// `credentials` is null for a user the config does not know; the exchange still runs (with
// a made-up verifier for SCRAM) so a client cannot tell unknown users from wrong passwords.
awaitable<ClientAuthResult> authenticate_client(Transport& socket, const std::string& user,
                                                const UserCredentials* credentials, config::AuthType type);

}  // namespace pgsluice::proxy
