// Authenticates a client to pgsluice over its socket. Which method applies is decided from
// the config (access rules, then the user's, the database's and the top level's auth_type);
// then SCRAM-SHA-256 (with -PLUS on TLS), MD5, cleartext, a client certificate, trust or
// reject. Users the config does not list are looked up with auth_query when the database
// has an auth_user. Every failure waits auth_failure_delay before it is answered, and
// unknown users go through an exchange that looks like a real one.
#pragma once

#include <optional>
#include <string>

#include "config/access_rules.hpp"
#include "config/config.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/error_response.hpp"
#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/backend/credentials.hpp"

namespace pgsluice::proxy {

class ProxyContext;
struct Snapshot;

// Who is logging in, as the session knows it before authentication.
struct ClientLogin {
    std::string user;
    std::string database;
    config::ClientAddress address;  // unix socket, IPv4 or IPv6
    bool tls = false;
    // TLS only: tls-server-end-point of the certificate pgsluice presented; offers
    // SCRAM-SHA-256-PLUS when set.
    std::optional<std::string> channel_binding;
    // TLS only: the CN of the client's verified certificate, for auth_type cert.
    std::optional<std::string> certificate_cn;
};

struct ClientAuthResult {
    bool ok = false;
    // With SCRAM: the ClientKey the client proved to hold; lets pgsluice log in to a server
    // that stores the same verifier without knowing the password.
    std::optional<protocol::scram::Key> client_key;
    // The ServerKey of a verifier auth_query fetched (the config's own are in Credentials).
    std::optional<protocol::scram::Key> server_key;
    protocol::ErrorFields error;  // when !ok: what the client is told
    std::string reason;           // when !ok: what the log says (never a secret)
};

// The method that applies to `login`, or the refusal: pure, from one snapshot.
struct AuthMethodDecision {
    std::optional<config::AuthType> method;  // nullopt: refused before any exchange
    std::string refusal;                      // when refused: why, for the client and the log (28000)
};
AuthMethodDecision decide_auth_method(const config::Config& config, const config::AccessRules& rules,
                                      const ClientLogin& login);

// The whole authentication, including the failure delay and counting failures in
// `context.login_failures()`. Never throws for a wrong password; throws on I/O errors.
awaitable<ClientAuthResult> authenticate_client(Transport& socket, const ClientLogin& login, const Snapshot& snapshot,
                                                ProxyContext& context);

}  // namespace pgsluice::proxy
