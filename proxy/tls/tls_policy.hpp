// What each sslmode means for a connection, on both sides, as PgBouncer defines it: whether
// to answer an SSLRequest with 'S', whether a plaintext client must be refused, and what a
// server connection asks for and checks. Pure; the TLS stream follows it.
#pragma once

#include "config/config.hpp"

namespace pgsluice::proxy::tls {

struct ClientTlsPolicy {
    bool accept_tls = false;   // answer SSLRequest with 'S' (else 'N')
    bool require_tls = false;  // a StartupMessage without TLS gets 28000 kPlaintextRefusal
    bool require_client_certificate = false;  // the handshake fails without a verified one
};

inline constexpr const char* kPlaintextRefusal = "SSL required";  // PgBouncer's words (28000)

inline ClientTlsPolicy client_tls_policy(config::TlsMode mode) {
    using config::TlsMode;
    switch (mode) {
        case TlsMode::disable: return {false, false, false};
        case TlsMode::allow:
        case TlsMode::prefer: return {true, false, false};
        case TlsMode::require: return {true, true, false};
        case TlsMode::verify_ca:
        case TlsMode::verify_full: return {true, true, true};
    }
    return {};
}

struct ServerTlsPolicy {
    bool request_tls = false;  // send SSLRequest first
    bool require_tls = false;  // a server answering 'N' is refused (else plaintext goes on)
    bool verify_chain = false;  // its certificate must chain to server_tls_ca_file (or the system's)
    bool verify_host = false;   // and name the database's host (tls::prepare_server_connection)
};

// allow and prefer both ask for TLS and go on in plaintext when the server cannot (PgBouncer
// has no "plaintext first" for allow either).
inline ServerTlsPolicy server_tls_policy(config::TlsMode mode) {
    using config::TlsMode;
    switch (mode) {
        case TlsMode::disable: return {false, false, false, false};
        case TlsMode::allow:
        case TlsMode::prefer: return {true, false, false, false};
        case TlsMode::require: return {true, true, false, false};
        case TlsMode::verify_ca: return {true, true, true, false};
        case TlsMode::verify_full: return {true, true, true, true};
    }
    return {};
}

}  // namespace pgsluice::proxy::tls
