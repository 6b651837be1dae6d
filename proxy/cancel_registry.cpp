// Cancel keys: random; ClientRegistry keeps them unique among live clients.
#include "proxy/cancel_registry.hpp"

#include <openssl/rand.h>

namespace pgsluice::proxy {

protocol::BackendKeyData random_cancel_key() {
    std::uint32_t random[2];
    RAND_bytes(reinterpret_cast<unsigned char*>(random), sizeof random);
    return {(random[0] & 0x7fffffffu) | 1u, random[1]};
}

}  // namespace pgsluice::proxy
