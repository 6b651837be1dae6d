// Maps the BackendKeyData pgsluice issues to each client onto the server that client holds
// right now, so a CancelRequest reaches exactly that server (and nothing when it holds none).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocol/messages.hpp"
#include "proxy/server_connection.hpp"

namespace pgsluice::proxy {

// What a cancel needs to know about the server a client currently holds: its address and
// key, never credentials (a cancel carries none). Kept small: every client has one.
struct CancelTarget {
    std::string host;
    std::uint16_t port = 0;
    protocol::BackendKeyData server_key;
};

// One per client session; the session updates it as it takes and returns servers.
class CancelSlot {
public:
    void set(std::optional<CancelTarget> target) {
        std::lock_guard lock(mutex_);
        target_ = std::move(target);
    }
    std::optional<CancelTarget> get() {
        std::lock_guard lock(mutex_);
        return target_;
    }

private:
    std::mutex mutex_;
    std::optional<CancelTarget> target_;
};

class CancelRegistry {
public:
    // Issues a fresh, unused key for a client and remembers its slot.
    protocol::BackendKeyData add(const std::shared_ptr<CancelSlot>& slot);
    void remove(const protocol::BackendKeyData& key);
    std::shared_ptr<CancelSlot> find(const protocol::BackendKeyData& key);

private:
    static std::uint64_t pack(const protocol::BackendKeyData& key) {
        return (std::uint64_t(key.process_id) << 32) | key.secret_key;
    }
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<CancelSlot>> slots_;
};

}  // namespace pgsluice::proxy
