// A non-owning list of the logged-in client sessions, for SHOW CLIENTS, SHOW POOLS and KILL.
// Each session owns its ClientEntry and updates it at state changes (a transaction taking or
// giving back a server), never per message: those updates are relaxed atomics, and the
// registry's mutex is taken only when a session comes or goes and when the console looks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/cancel_registry.hpp"

namespace pgsluice::proxy {

// PgBouncer's client states: idle (no server, nothing asked), waiting (asked, no server
// yet), active (holds a server).
enum class ClientState : std::uint8_t { idle, waiting, active };
const char* to_string(ClientState state);

using WallClock = std::chrono::system_clock;

struct ClientEntry {
    ClientEntry(std::uint64_t id, std::string user, std::string database, std::string peer,
                std::string application_name, Socket& socket);

    void set_state(ClientState state, std::uint64_t server_id = 0);

    const std::uint64_t id;
    const std::string user;
    const std::string database;
    const std::string addr;  // IP, or "unix"
    const std::uint16_t port;
    const std::string application_name;
    const WallClock::time_point connect_time = WallClock::now();
    std::atomic<ClientState> state{ClientState::idle};
    std::atomic<std::int64_t> state_since_us{0};  // wall clock, µs since the epoch
    std::atomic<std::uint64_t> server_id{0};      // the server it holds while active

    // Where a CancelRequest with this client's key goes (see CancelRegistry).
    CancelSlot cancel;

    // Only touched on the session's worker: the session clears it before its socket goes.
    Socket* socket;
    // That worker's executor (a copy of the socket's executor): a post to it stays valid after the
    // session and its socket are gone.
    const asio::any_io_executor& executor() const { return executor_; }

private:
    const asio::any_io_executor executor_;
};

struct ClientSnapshot {
    std::uint64_t id;
    std::string user, database, addr, application_name;
    std::uint16_t port;
    WallClock::time_point connect_time, state_since;
    ClientState state;
    std::uint64_t server_id;
};

class ClientRegistry {
public:
    void add(const std::shared_ptr<ClientEntry>& entry);
    void remove(std::uint64_t id);
    std::vector<ClientSnapshot> list();
    // Drops every client of `database`: one that is between transactions is told why (FATAL
    // 57P01), one in the middle of a result is cut off. Returns how many were asked to go.
    std::size_t kill(const std::string& database);
    // The end of a drain: every session's wait for its client is interrupted on its own
    // worker (the session then sees ProxyContext::drain_ended()). Returns how many.
    std::size_t interrupt_all();
    std::size_t size();

private:
    std::mutex mutex_;
    std::map<std::uint64_t, std::shared_ptr<ClientEntry>> entries_;
};

}  // namespace pgsluice::proxy
