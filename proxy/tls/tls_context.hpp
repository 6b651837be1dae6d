// OpenSSL contexts built from the config: one for pgsluice as the TLS server towards its
// clients, one per distinct server-side setting for pgsluice as the TLS client towards
// PostgreSQL. Building one reads the certificate, key and CA files; a failure names the file
// and OpenSSL's reason. The streams that use them (handshake, SSLRequest) live elsewhere.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace pgsluice::proxy::tls {

using SslContext = std::shared_ptr<SSL_CTX>;

// What a client-facing context serves, with what its certificate proves.
struct ClientFacing {
    SslContext context;
    // tls-server-end-point of the certificate clients see, for SCRAM-SHA-256-PLUS.
    std::string end_point;
};

struct ClientFacingResult {
    std::optional<ClientFacing> value;
    std::string error;  // when !value: "client_tls_cert_file /path: cannot load certificate: <reason>"
};
struct ServerFacingResult {
    SslContext context;  // null on error
    std::string error;
};

// Server role: certificate and key, the CA client certificates are checked against (asked
// for when a CA is set, required under verify-ca / verify-full), the protocol versions and
// ciphers. Idle connections give their buffers back (SSL_MODE_RELEASE_BUFFERS; a busy
// client keeps them, Transport::keep_tls_buffers) and no session cache is kept: libpq does
// not resume sessions.
ClientFacingResult make_client_facing(const config::ClientTls& settings);

// Client role: the CA PostgreSQL's certificate is checked against (the system's when none
// is set) under verify-ca / verify-full, and an optional client certificate. The host name
// is checked per connection: see prepare_server_connection.
// `where` names the settings in errors ("server_tls" or "databases.app.server_tls").
ServerFacingResult make_server_facing(const config::ServerTls& settings, const std::string& where);

// Readies a new client-role SSL for one server: SNI with `host` (when it is a name), and
// for verify-full the host name (or IP address) the certificate must carry. Returns an
// error text, empty on success.
std::string prepare_server_connection(SSL* ssl, config::TlsMode mode, const std::string& host);

// After a server-role handshake: the common name of the client's certificate when it sent
// one and it verified against client_tls_ca_file (auth_type cert), else nullopt.
std::optional<std::string> verified_client_common_name(const SSL* ssl);

// After a server-role handshake: tls-server-end-point of the certificate this side
// presented (SCRAM-SHA-256-PLUS), from the session itself, so a reload that changed the
// certificate since cannot make it differ from what the client saw.
std::optional<std::string> presented_end_point(const SSL* ssl);

// The reasons OpenSSL queued on this thread, joined, and the queue cleared.
std::string openssl_errors();

}  // namespace pgsluice::proxy::tls
