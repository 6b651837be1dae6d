// Cancel keys: random, unique among live clients.
#include "proxy/cancel_registry.hpp"

#include <openssl/rand.h>

namespace pgsluice::proxy {

protocol::BackendKeyData CancelRegistry::add(const std::shared_ptr<CancelSlot>& slot) {
    std::lock_guard lock(mutex_);
    while (true) {
        protocol::BackendKeyData key;
        std::uint32_t random[2];
        RAND_bytes(reinterpret_cast<unsigned char*>(random), sizeof random);
        key.process_id = (random[0] & 0x7fffffffu) | 1u;  // positive, non-zero: some clients print it as a pid
        key.secret_key = random[1];
        if (slots_.emplace(pack(key), slot).second) return key;
    }
}

void CancelRegistry::remove(const protocol::BackendKeyData& key) {
    std::lock_guard lock(mutex_);
    slots_.erase(pack(key));
}

std::shared_ptr<CancelSlot> CancelRegistry::find(const protocol::BackendKeyData& key) {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(pack(key));
    return it == slots_.end() ? nullptr : it->second.lock();
}

}  // namespace pgsluice::proxy
