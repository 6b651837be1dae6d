// Names of the config enums, as they are written in YAML.
#include "config/config.hpp"

namespace pgsluice::config {

std::string mode_string(unsigned mode) {
    std::string out = "0";
    for (int shift = 6; shift >= 0; shift -= 3) out += static_cast<char>('0' + ((mode >> shift) & 7));
    return out;
}

const char* to_string(PoolMode mode) {
    switch (mode) {
        case PoolMode::session: return "session";
        case PoolMode::transaction: return "transaction";
        case PoolMode::statement: return "statement";
    }
    return "?";
}

const char* to_string(AuthType type) {
    switch (type) {
        case AuthType::scram_sha_256: return "scram-sha-256";
        case AuthType::md5: return "md5";
        case AuthType::plain: return "plain";
        case AuthType::cert: return "cert";
        case AuthType::trust: return "trust";
        case AuthType::reject: return "reject";
    }
    return "?";
}

const char* to_string(TlsMode mode) {
    switch (mode) {
        case TlsMode::disable: return "disable";
        case TlsMode::allow: return "allow";
        case TlsMode::prefer: return "prefer";
        case TlsMode::require: return "require";
        case TlsMode::verify_ca: return "verify-ca";
        case TlsMode::verify_full: return "verify-full";
    }
    return "?";
}

const char* to_string(HbaRule::ConnectionType type) {
    switch (type) {
        case HbaRule::ConnectionType::host: return "host";
        case HbaRule::ConnectionType::hostssl: return "hostssl";
        case HbaRule::ConnectionType::hostnossl: return "hostnossl";
        case HbaRule::ConnectionType::local: return "local";
    }
    return "?";
}

std::string tls_protocols_string(unsigned protocols) {
    std::string out;
    const std::pair<unsigned, const char*> names[] = {
        {tls_v1_0, "tlsv1.0"}, {tls_v1_1, "tlsv1.1"}, {tls_v1_2, "tlsv1.2"}, {tls_v1_3, "tlsv1.3"}};
    for (const auto& [bit, name] : names)
        if (protocols & bit) out += (out.empty() ? "" : ",") + std::string(name);
    return out;
}

}  // namespace pgsluice::config
