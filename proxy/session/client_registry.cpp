// The registry of live sessions and the KILL that reaches into them on their own workers.
#include "proxy/session/client_registry.hpp"

#include <spdlog/spdlog.h>

#include "protocol/error_response.hpp"
#include "protocol/sqlstate.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

namespace {

// A state's start, in µs of the steady clock: the time of the event that changed it (two
// state changes per transaction, no clock read of their own); list() turns it into wall time.
std::int64_t steady_us(Clock::time_point at) {
    return std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
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

ClientEntry::ClientEntry(std::uint64_t id_, std::string peer_, Transport& transport_, Executor executor)
    : id(id_), peer(std::move(peer_)), state_since_us(steady_us(Clock::now())), transport(&transport_), executor_(executor) {}

void ClientEntry::set_state(ClientState new_state, std::uint64_t server) {
    server_id.store(server, std::memory_order_relaxed);
    state_since_us.store(steady_us(EventClock::now()), std::memory_order_relaxed);
    state.store(new_state, std::memory_order_relaxed);
}

void ClientRegistry::add(ClientEntry& entry) {
    std::lock_guard lock(mutex_);
    if (entry.listed_) return;
    entry.previous_ = last_;
    entry.next_ = nullptr;
    (last_ ? last_->next_ : first_) = &entry;
    last_ = &entry;
    entry.listed_ = true;
    ++size_;
}

void ClientRegistry::remove(ClientEntry& entry) {
    std::lock_guard lock(mutex_);
    if (!entry.listed_) return;
    (entry.previous_ ? entry.previous_->next_ : first_) = entry.next_;
    (entry.next_ ? entry.next_->previous_ : last_) = entry.previous_;
    entry.previous_ = entry.next_ = nullptr;
    entry.listed_ = false;
    --size_;
}

std::vector<ClientSnapshot> ClientRegistry::list() {
    std::lock_guard lock(mutex_);
    std::vector<ClientSnapshot> out;
    out.reserve(size_);
    const auto wall_now = WallClock::now();
    const auto steady_now = steady_us(Clock::now());
    const auto wall_time = [&](std::int64_t steady) {
        return wall_now - std::chrono::microseconds(steady_now - steady);
    };
    for (auto* e = first_; e; e = e->next_) {
        auto [addr, port] = split_peer(e->peer);
        out.push_back({e->id, e->user(), e->database(), std::move(addr), e->names->application_name, port, e->connect_time,
                       wall_time(e->state_since_us.load(std::memory_order_relaxed)),
                       e->state.load(std::memory_order_relaxed), e->server_id.load(std::memory_order_relaxed),
                       e->prepared_statements.load(std::memory_order_relaxed)});
    }
    return out;
}

template <class Pick>
std::vector<std::pair<Executor, std::weak_ptr<ClientEntry>>> ClientRegistry::collect(Pick pick) {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<Executor, std::weak_ptr<ClientEntry>>> out;
    // A session being destroyed is still listed until its last members go; its weak
    // pointer has expired by then, and the post below finds nothing.
    for (auto* e = first_; e; e = e->next_)
        if (pick(*e)) out.emplace_back(e->executor_, e->weak_from_this());
    return out;
}

void ClientRegistry::moved(ClientEntry& entry, const Executor& executor) {
    std::lock_guard lock(mutex_);
    entry.executor_ = executor;
}

template <class Act>
void ClientRegistry::on_worker(const Executor& executor, std::weak_ptr<ClientEntry> weak, Act act) {
    // The registry outlives the workers' handlers (ProxyContext outlives the threads).
    asio::post(executor, [this, executor, weak = std::move(weak), act = std::move(act)]() mutable {
        auto entry = weak.lock();
        if (!entry) return;
        Executor home = executor;
        {
            std::lock_guard lock(mutex_);
            home = entry->executor_;
        }
        if (home != executor) return on_worker(home, std::move(weak), std::move(act));
        if (entry->transport) act(*entry);
    });
}

std::size_t ClientRegistry::kill(const std::string& database) {
    auto victims = collect([&](const ClientEntry& entry) { return entry.database() == database; });
    for (auto& [executor, weak] : victims) {
        on_worker(executor, std::move(weak), [](ClientEntry& entry) {
            // Nothing is being written to a client that is not active: a whole ErrorResponse
            // fits in the socket buffer, so say why before closing.
            std::string out;
            if (entry.state.load(std::memory_order_relaxed) != ClientState::active)
                protocol::append_error_response(
                    out, {"FATAL", protocol::sqlstate::kAdminShutdown,
                          "terminating connection due to administrator command (KILL " + entry.database() + ")", {}, {}});
            spdlog::info("client {}: KILL {}: closing", entry.id, entry.database());
            entry.transport->close(out);
        });
    }
    return victims.size();
}

std::size_t ClientRegistry::interrupt_all() {
    auto all = collect([](const ClientEntry&) { return true; });
    for (auto& [executor, weak] : all) {
        on_worker(executor, std::move(weak), [](ClientEntry& entry) {
            entry.transport->cancel();
        });
    }
    return all.size();
}

protocol::BackendKeyData ClientRegistry::issue_cancel_key(ClientEntry& entry) {
    std::lock_guard lock(mutex_);
    while (true) {
        const auto key = random_cancel_key();
        const auto packed = pack_cancel_key(key);
        bool taken = false;
        for (auto* e = first_; e && !taken; e = e->next_) taken = e->cancel_key_ == packed;
        if (taken) continue;
        entry.cancel_key_ = packed;
        return key;
    }
}

std::shared_ptr<ClientEntry> ClientRegistry::find_by_cancel_key(const protocol::BackendKeyData& key) {
    const auto packed = pack_cancel_key(key);
    std::lock_guard lock(mutex_);
    for (auto* e = first_; e; e = e->next_)
        if (e->cancel_key_ == packed) return e->weak_from_this().lock();
    return nullptr;
}

std::size_t ClientRegistry::size() {
    std::lock_guard lock(mutex_);
    return size_;
}

}  // namespace pgsluice::proxy
