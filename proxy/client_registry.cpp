// The registry of live sessions and the KILL that reaches into them on their own workers.
#include "proxy/client_registry.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "protocol/error_response.hpp"
#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy {

namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(WallClock::now().time_since_epoch()).count();
}

// "10.1.2.3:5678" -> ("10.1.2.3", 5678); anything else (e.g. "unix") is the address, port 0.
std::pair<std::string, std::uint16_t> split_peer(const std::string& peer) {
    const auto colon = peer.rfind(':');
    if (colon == std::string::npos) return {peer, 0};
    try {
        return {peer.substr(0, colon), static_cast<std::uint16_t>(std::stoul(peer.substr(colon + 1)))};
    } catch (const std::exception&) {
        return {peer, 0};
    }
}

}  // namespace

const char* to_string(ClientState state) {
    switch (state) {
        case ClientState::idle: return "idle";
        case ClientState::waiting: return "waiting";
        case ClientState::active: return "active";
    }
    return "?";
}

ClientEntry::ClientEntry(std::uint64_t id_, std::string user_, std::string database_, std::string peer,
                         std::string application_name_, Socket& socket_)
    : id(id_),
      user(std::move(user_)),
      database(std::move(database_)),
      addr(split_peer(peer).first),
      port(split_peer(peer).second),
      application_name(std::move(application_name_)),
      state_since_us(now_us()),
      socket(&socket_),
      executor_(socket_.get_executor()) {}

void ClientEntry::set_state(ClientState new_state, std::uint64_t server) {
    server_id.store(server, std::memory_order_relaxed);
    state_since_us.store(now_us(), std::memory_order_relaxed);
    state.store(new_state, std::memory_order_relaxed);
}

void ClientRegistry::add(const std::shared_ptr<ClientEntry>& entry) {
    std::lock_guard lock(mutex_);
    entries_[entry->id] = entry;
}

void ClientRegistry::remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
}

std::vector<ClientSnapshot> ClientRegistry::list() {
    std::lock_guard lock(mutex_);
    std::vector<ClientSnapshot> out;
    out.reserve(entries_.size());
    for (const auto& [id, e] : entries_) {
        out.push_back({e->id, e->user, e->database, e->addr, e->application_name, e->port, e->connect_time,
                       WallClock::time_point(std::chrono::microseconds(e->state_since_us.load(std::memory_order_relaxed))),
                       e->state.load(std::memory_order_relaxed), e->server_id.load(std::memory_order_relaxed)});
    }
    return out;
}

std::size_t ClientRegistry::kill(const std::string& database) {
    std::vector<std::shared_ptr<ClientEntry>> victims;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_)
            if (entry->database == database) victims.push_back(entry);
    }
    for (auto& entry : victims) {
        // On the session's worker, where its socket lives; the session may be gone by then.
        asio::post(entry->executor(), [entry] {
            if (!entry->socket) return;
            auto& socket = *entry->socket;
            if (entry->state.load(std::memory_order_relaxed) != ClientState::active) {
                // Nothing is being written to this client: a whole ErrorResponse fits in the
                // socket buffer, so say why before closing.
                std::string out;
                protocol::append_error_response(
                    out, {"FATAL", protocol::sqlstate::kAdminShutdown,
                          "terminating connection due to administrator command (KILL " + entry->database + ")", {}, {}});
                [[maybe_unused]] auto sent = ::send(socket.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            spdlog::info("client {}: KILL {}: closing", entry->id, entry->database);
            boost::system::error_code ignored;
            socket.shutdown(asio::socket_base::shutdown_both, ignored);
            socket.close(ignored);
        });
    }
    return victims.size();
}

std::size_t ClientRegistry::interrupt_all() {
    std::vector<std::shared_ptr<ClientEntry>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_) all.push_back(entry);
    }
    for (auto& entry : all) {
        asio::post(entry->executor(), [entry] {
            if (!entry->socket) return;
            boost::system::error_code ignored;
            entry->socket->cancel(ignored);
        });
    }
    return all.size();
}

std::size_t ClientRegistry::size() {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace pgsluice::proxy
