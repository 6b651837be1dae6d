// SCRAM's channel binding data for `tls-server-end-point` (RFC 5929 section 4.1): a hash of
// the server's certificate, which both ends compute, so that a client talking to a man in
// the middle (who must present another certificate) computes a different value.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsluice::protocol::scram {

inline constexpr const char* kChannelBindingType = "tls-server-end-point";

// The hash of a DER-encoded certificate with its signature's hash function, SHA-256 when
// that is MD5 or SHA-1 (or has none, as with Ed25519), as PostgreSQL and libpq compute it.
// nullopt when `der` is not a certificate.
std::optional<std::string> tls_server_end_point(std::string_view der);

}  // namespace pgsluice::protocol::scram
