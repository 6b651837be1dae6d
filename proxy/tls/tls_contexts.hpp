// Every TLS context one config needs, built together from its files: the snapshot keeps one
// (shared_ptr), a reload builds a new one before it swaps, and a certificate that fails to
// load fails the reload while the old contexts keep serving. Connections keep the context
// they started with (OpenSSL counts its references), so a rotation drops none.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/tls/tls_context.hpp"

namespace pgsluice::proxy::tls {

class TlsContexts;

struct LoadedTlsContexts {
    std::shared_ptr<const TlsContexts> contexts;  // null when errors is not empty
    std::vector<std::string> errors;               // one per file that failed, in config order
};

class TlsContexts {
public:
    // Reads every certificate, key and CA file the config names.
    static LoadedTlsContexts load(const config::Config& config);

    // Towards clients; null when client_tls_sslmode is disable.
    const ClientFacing* client_facing() const { return client_facing_ ? &*client_facing_ : nullptr; }
    // Towards the servers of `database`; null when its server_tls_sslmode is disable or the
    // database is not in the config this was built from.
    SslContext server_facing(const std::string& database) const;

private:
    std::optional<ClientFacing> client_facing_;
    std::map<std::string, SslContext> server_facing_;  // by database name; equal settings share one
};

}  // namespace pgsluice::proxy::tls
