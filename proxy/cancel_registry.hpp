// What a CancelRequest needs: the server a client holds right now (and nothing when it
// holds none), behind the BackendKeyData pgsluice issued to that client. ClientRegistry
// finds a client by its key.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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

// A key as one word, to store and compare. A server's process id is never 0, and pgsluice
// issues none with 0, so no real key packs to 0.
inline std::uint64_t pack_cancel_key(const protocol::BackendKeyData& key) {
    return (std::uint64_t(key.process_id) << 32) | key.secret_key;
}

// One per client session (inside its ClientEntry); the session updates it as it takes and
// returns servers, a cancel request reads it from any thread. The address is set once at
// login, before the slot is published; the server's key is one atomic word (0: no server),
// so an idle client's slot costs a few bytes and no lock.
class CancelSlot {
public:
    // `address` outlives the slot (the session's interned names hold it).
    void set_address(const CancelAddress* address) { address_ = address; }
    void set(std::optional<protocol::BackendKeyData> server_key) {
        key_.store(server_key ? pack_cancel_key(*server_key) : 0, std::memory_order_release);
    }
    std::optional<CancelTarget> get() const {
        const auto packed = key_.load(std::memory_order_acquire);
        if (packed == 0 || !address_) return std::nullopt;
        return CancelTarget{address_->host, address_->port,
                            {static_cast<std::uint32_t>(packed >> 32), static_cast<std::uint32_t>(packed)}};
    }

private:
    const CancelAddress* address_ = nullptr;
    std::atomic<std::uint64_t> key_{0};
};

// A fresh random key as a client sees it in BackendKeyData: a positive process id (some
// clients print it as a pid) and a random secret. ClientRegistry keeps it unique.
protocol::BackendKeyData random_cancel_key();


}  // namespace pgsluice::proxy
