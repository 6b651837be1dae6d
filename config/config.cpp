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
        case AuthType::trust: return "trust";
    }
    return "?";
}

}  // namespace pgsluice::config
