// Cancel keys: random; ClientRegistry keeps them unique among live clients.
#include "proxy/session/cancel_registry.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace pgsluice::proxy {

protocol::BackendKeyData random_cancel_key() {
    std::uint32_t random[2];
    if (RAND_bytes(reinterpret_cast<unsigned char*>(random), sizeof random) != 1)
        throw std::runtime_error("RAND_bytes failed: no cancel key");
    return {(random[0] & 0x7fffffffu) | 1u, random[1]};
}

}  // namespace pgsluice::proxy
