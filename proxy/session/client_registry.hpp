// A non-owning list of the logged-in client sessions, for SHOW CLIENTS, SHOW POOLS and KILL.
// Each session owns its ClientEntry and updates it at state changes (a transaction taking or
// giving back a server), never per message: those updates are relaxed atomics, and the
// registry's mutex is taken only when a session comes or goes and when the console looks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/session/cancel_registry.hpp"

namespace pgsluice::proxy {

// PgBouncer's client states: idle (no server, nothing asked), waiting (asked, no server
// yet), active (holds a server).
enum class ClientState : std::uint8_t { idle, waiting, active };
const char* to_string(ClientState state);

using WallClock = std::chrono::system_clock;

// Who a client is, as SHOW CLIENTS and KILL see it: alike for most clients of one
// application, so they share one copy (Interner).
struct ClientNames {
    std::string user;
    std::string database;
    std::string application_name;
    bool operator==(const ClientNames&) const = default;
};

// What the registry knows of one session. The session *is* its entry (ClientSession derives
// from it), so a logged-in idle client costs one object: the registry links entries into a
// list through them, and reaches a session on another worker through weak_from_this().
struct ClientEntry : std::enable_shared_from_this<ClientEntry> {
    // `transport` may be still unconstructed (a member of the derived session): only its address is kept.
    ClientEntry(std::uint64_t id, std::string peer, Transport& transport, Executor executor);
    ClientEntry(const ClientEntry&) = delete;
    ClientEntry& operator=(const ClientEntry&) = delete;

    void set_state(ClientState state, std::uint64_t server_id = 0);

    const std::uint64_t id;
    const std::string peer;  // "10.1.2.3:5678", or "unix"
    const WallClock::time_point connect_time = WallClock::now();
    // Set at login, before the registry lists the entry; never changed after.
    std::shared_ptr<const ClientNames> names;
    const std::string& user() const { return names->user; }
    const std::string& database() const { return names->database; }
    std::atomic<std::int64_t> state_since_us{0};  // steady clock (EventClock), µs
    std::atomic<std::uint64_t> server_id{0};      // the server it holds while active
    std::atomic<std::uint32_t> prepared_statements{0};  // named statements the client holds (SHOW CLIENTS)

    // Where a CancelRequest with this client's key goes (ClientRegistry::find_by_cancel_key).
    CancelSlot cancel;

    // Only touched on the session's worker: the session clears it before its transport goes.
    Transport* transport;
    // Beside the list's flag below: one word for both.
    std::atomic<ClientState> state{ClientState::idle};

private:
    friend class ClientRegistry;
    // The session's worker, guarded by the registry's mutex (ClientRegistry::moved): a post
    // to it stays valid after the session is gone.
    Executor executor_;
    // The key issued to this client for CancelRequest (0: none), guarded by the registry's mutex.
    std::uint64_t cancel_key_ = 0;
    // The registry's list, guarded by its mutex.
    ClientEntry* previous_ = nullptr;
    ClientEntry* next_ = nullptr;
    bool listed_ = false;
};

struct ClientSnapshot {
    std::uint64_t id;
    std::string user, database, addr, application_name;
    std::uint16_t port;
    WallClock::time_point connect_time, state_since;
    ClientState state;
    std::uint64_t server_id;
    std::uint32_t prepared_statements;
};

// Entries in the order they logged in (ids ascending). An entry is removed by its own
// session before it is destroyed, so under the mutex every listed entry is alive.
class ClientRegistry {
public:
    void add(ClientEntry& entry);
    void remove(ClientEntry& entry);  // nothing when it is not listed
    std::vector<ClientSnapshot> list();
    // Drops every client of `database`: one that is between transactions is told why (FATAL
    // 57P01), one in the middle of a result is cut off. Returns how many were asked to go.
    std::size_t kill(const std::string& database);
    // The end of a drain: every session's wait for its client is interrupted on its own
    // worker (the session then sees ProxyContext::drain_ended()). Returns how many.
    std::size_t interrupt_all();
    std::size_t size();

    // `entry`'s session moved to the worker of `executor`, with its socket (ClientSession::park).
    void moved(ClientEntry& entry, const Executor& executor);

    // A cancel key for `entry` (listed), unique among the live clients.
    protocol::BackendKeyData issue_cancel_key(ClientEntry& entry);
    // The client issued `key`, kept alive for the caller; null when none. A scan of the list,
    // as PgBouncer does: cancels are rare, and no client pays memory for an index.
    std::shared_ptr<ClientEntry> find_by_cancel_key(const protocol::BackendKeyData& key);

private:
    // Every listed entry that `pick` accepts, for a post to its worker.
    template <class Pick>
    std::vector<std::pair<Executor, std::weak_ptr<ClientEntry>>> collect(Pick pick);
    // Runs `act` with the entry on its session's worker, where its socket lives; when the
    // session moved to another worker meanwhile, it follows. Nothing when the session is gone.
    template <class Act>
    void on_worker(const Executor& executor, std::weak_ptr<ClientEntry> weak, Act act);

    std::mutex mutex_;
    ClientEntry* first_ = nullptr;
    ClientEntry* last_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace pgsluice::proxy
