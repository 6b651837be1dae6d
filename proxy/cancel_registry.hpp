// Maps the BackendKeyData pgsluice issues to each client onto the server that client holds
// right now, so a CancelRequest reaches exactly that server (and nothing when it holds none).
#pragma once

#include <atomic>
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

// Where a cancel for a client's server goes: the client's database's address. Alike for
// every client of a database, so sessions share one copy.
struct CancelAddress {
    std::string host;
    std::uint16_t port = 0;
    bool operator==(const CancelAddress&) const = default;
};

// One per client session (inside its ClientEntry); the session updates it as it takes and
// returns servers, a cancel request reads it from any thread. The address is set once at
// login, before the slot is published; the server's key is one atomic word (0: no server),
// so an idle client's slot costs a few bytes and no lock.
class CancelSlot {
public:
    void set_address(std::shared_ptr<const CancelAddress> address) { address_ = std::move(address); }
    void set(std::optional<protocol::BackendKeyData> server_key) {
        key_.store(server_key ? pack(*server_key) : 0, std::memory_order_release);
    }
    std::optional<CancelTarget> get() const {
        const auto packed = key_.load(std::memory_order_acquire);
        if (packed == 0 || !address_) return std::nullopt;
        return CancelTarget{address_->host, address_->port,
                            {static_cast<std::uint32_t>(packed >> 32), static_cast<std::uint32_t>(packed)}};
    }

private:
    // A server's process id is never 0, so no real key packs to 0.
    static std::uint64_t pack(const protocol::BackendKeyData& key) {
        return (std::uint64_t(key.process_id) << 32) | key.secret_key;
    }
    std::shared_ptr<const CancelAddress> address_;
    std::atomic<std::uint64_t> key_{0};
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
