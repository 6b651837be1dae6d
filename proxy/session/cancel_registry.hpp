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
#include "proxy/backend/server_connection.hpp"

namespace pgsluice::proxy {

// What a cancel needs to know about the server a client currently holds: its address and
// key, never credentials (a cancel carries none). Kept small: every client has one.
struct CancelTarget {
    std::string host;
    std::uint16_t port = 0;
    protocol::BackendKeyData server_key;
};

// A key as one word, to store and compare. A server's process id is never 0, and pgsluice
// issues none with 0, so no real key packs to 0.
inline std::uint64_t pack_cancel_key(const protocol::BackendKeyData& key) {
    return (std::uint64_t(key.process_id) << 32) | key.secret_key;
}

// One per client session (inside its ClientEntry); the session updates it as it takes and
// returns servers, a cancel request reads it from any thread. It holds the server's key and
// the address that server was opened to (ServerConnection::cancel_address), never the
// client's database's address of the moment: after a reload that moved the database, a
// client still on an old server must cancel there. No lock, so that an idle client's slot
// costs a few words: the pair is written as a sequence lock (one writer, the session) and a
// reader retries until it saw both halves of one write. Every field is an atomic, so a
// reader racing a writer reads old or new values, never torn ones, and retries.
class CancelSlot {
public:
    void set(const ServerConnection& server) { write(&server.cancel_address(), pack_cancel_key(server.backend_key())); }
    void set(std::nullopt_t) { write(nullptr, 0); }
    std::optional<CancelTarget> get() const {
        while (true) {
            const auto before = sequence_.load(std::memory_order_acquire);
            const auto packed = key_.load(std::memory_order_acquire);
            const auto* address = address_.load(std::memory_order_acquire);
            // After the acquire loads above: a reader that saw a write's halves sees its
            // sequence number moved.
            if ((before & 1) != 0 || sequence_.load(std::memory_order_relaxed) != before) continue;
            if (packed == 0 || !address) return std::nullopt;
            return CancelTarget{address->host, address->port,
                                {static_cast<std::uint32_t>(packed >> 32), static_cast<std::uint32_t>(packed)}};
        }
    }

private:
    void write(const CancelAddress* address, std::uint64_t packed) {
        const auto sequence = sequence_.load(std::memory_order_relaxed);
        sequence_.store(sequence + 1, std::memory_order_relaxed);  // odd: a write in progress
        // Release stores: a reader that sees either half sees the odd number before it.
        key_.store(packed, std::memory_order_release);
        address_.store(address, std::memory_order_release);
        sequence_.store(sequence + 2, std::memory_order_release);
    }

    std::atomic<std::uint32_t> sequence_{0};
    // Addresses are interned for the life of the process (intern_cancel_address).
    std::atomic<const CancelAddress*> address_{nullptr};
    std::atomic<std::uint64_t> key_{0};
};

// A fresh random key as a client sees it in BackendKeyData: a positive process id (some
// clients print it as a pid) and a random secret. ClientRegistry keeps it unique.
protocol::BackendKeyData random_cancel_key();


}  // namespace pgsluice::proxy
