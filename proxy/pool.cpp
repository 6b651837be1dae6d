// Pool: acquiring, waiting, releasing.
#include "proxy/pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstring>

#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy {

namespace sqlstate = protocol::sqlstate;

// A session waiting for a server. The releasing thread fills in `server` (or grants a
// `slot` to open one, or an `error`) under the pool's mutex, then cancels `timer` on the
// waiter's own strand; the waiter sees the outcome under the mutex when it wakes.
struct Pool::Waiter {
    explicit Waiter(asio::any_io_executor executor) : timer(executor) {}
    asio::steady_timer timer;
    Clock::time_point since = Clock::now();  // for the metrics' longest current wait
    std::unique_ptr<ServerConnection> server;
    bool slot = false;
    std::optional<protocol::ErrorFields> error;
    bool resumed = false;  // a paused pool resumed: try again
};

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server)
    : pool_(std::move(pool)), server_(std::move(server)) {
    if (server_) pool_->note_leased(server_.get());
}

ServerLease& ServerLease::operator=(ServerLease&& other) noexcept {
    if (this != &other) {
        if (server_) release_closed("lease replaced");
        pool_ = std::move(other.pool_);
        server_ = std::move(other.server_);
    }
    return *this;
}

ServerLease::~ServerLease() {
    if (server_) release_closed("session ended without releasing its server");
}

void ServerLease::release_reusable() {
    if (server_) pool_->give_back(std::move(server_), true, nullptr);
}

void ServerLease::release_closed(const char* why) {
    if (server_) pool_->give_back(std::move(server_), false, why);
}

Pool::Pool(std::string database, std::string user, ServerTarget target, config::PoolSettings settings,
           asio::any_io_executor io_executor, std::atomic<std::uint64_t>& server_ids)
    : database_(std::move(database)),
      user_(std::move(user)),
      settings_(std::move(settings)),
      io_executor_(std::move(io_executor)),
      server_ids_(server_ids),
      target_(std::move(target)) {}

void Pool::remember_client_key(const protocol::scram::Key& client_key) {
    std::lock_guard lock(mutex_);
    if (!target_.client_key) target_.client_key = client_key;
}

config::PoolSettings Pool::settings() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

void Pool::update(const config::PoolSettings& settings) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        settings_ = settings;
        // Shrinking: idle servers go first; busy ones are closed as they come back.
        while (open_ > settings_.pool_size && !idle_.empty()) {
            to_close.push_back(std::move(idle_.front()));  // oldest first
            idle_.pop_front();
            --open_;
        }
        grant_slots_locked();  // growing: waiters may open servers now
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (pool_size reduced by reload)", server->id(), server->address());
        server->close();
    }
}

bool Pool::same_target(const ServerTarget& target) const {
    std::lock_guard lock(mutex_);
    return target.host == target_.host && target.port == target_.port && target.dbname == target_.dbname &&
           target.user == target_.user && target.password == target_.password &&
           target.server_key == target_.server_key;
}

void Pool::retarget(ServerTarget target) {
    std::deque<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        // A ClientKey proven against the old verifier is useless with a new one.
        if (target.server_key == target_.server_key) target.client_key = target_.client_key;
        target_ = std::move(target);
        ++target_generation_;
        to_close.swap(idle_);
        open_ -= static_cast<std::uint32_t>(to_close.size());
        grant_slots_locked();
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (server address or login changed by reload)", server->id(),
                     server->address());
        server->close();
    }
}

bool Pool::keep_on_release_locked(const ServerConnection& server) const {
    return server.generation() == target_generation_ && open_ <= settings_.pool_size;
}

// Hands free slots (below pool_size) to waiters, who then open a server each.
void Pool::grant_slots_locked() {
    while (!waiters_.empty() && open_ < settings_.pool_size) {
        auto next = std::move(waiters_.front());
        waiters_.pop_front();
        ++open_;
        next->slot = true;
        wake(next);
    }
}

Pool::Counts Pool::counts() {
    std::lock_guard lock(mutex_);
    Counts counts;
    counts.open = open_;
    counts.idle = static_cast<std::uint32_t>(idle_.size());
    counts.waiting = static_cast<std::uint32_t>(waiters_.size());
    counts.connecting = connecting_;
    const auto now = Clock::now();
    if (!settings_.server_check_query.empty())
        for (const auto& server : idle_)
            counts.idle_unchecked += now - server->released_at() >= settings_.server_check_delay;
    if (!waiters_.empty())
        counts.longest_wait = std::chrono::duration_cast<std::chrono::microseconds>(now - waiters_.front()->since);
    return counts;
}

void Pool::maintain() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    std::uint32_t to_open = 0;
    {
        std::lock_guard lock(mutex_);
        const auto now = Clock::now();
        for (auto it = idle_.begin(); it != idle_.end();) {
            auto& server = *it;
            const bool idle_too_long = settings_.server_idle_timeout.count() > 0 &&
                                       now - server->released_at() > settings_.server_idle_timeout &&
                                       open_ > settings_.min_pool_size;
            const bool too_old = settings_.server_lifetime.count() > 0 &&
                                 now - server->created_at() > settings_.server_lifetime;
            if (idle_too_long || too_old) {
                to_close.push_back(std::move(server));
                it = idle_.erase(it);
                --open_;
            } else {
                ++it;
            }
        }
        // Keep min_pool_size servers warm, but give a failing server a few seconds' rest.
        const bool resting = now - last_connect_failure_ < std::chrono::seconds(5);
        if (!resting && !paused_ && open_ < settings_.min_pool_size) {
            to_open = settings_.min_pool_size - open_;
            open_ += to_open;
        }
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (server_idle_timeout or server_lifetime)", server->id(), server->address());
        server->close();
    }
    for (std::uint32_t i = 0; i < to_open; ++i) {
        asio::co_spawn(
            io_executor_,
            [self = shared_from_this()]() -> awaitable<void> {
                try {
                    auto lease = co_await self->open_new();
                    lease.release_reusable();
                } catch (const PoolError&) {
                    // open_new logged it and gave the slot back.
                }
            },
            asio::detached);
    }
}

void Pool::close_idle() {
    std::deque<std::unique_ptr<ServerConnection>> idle;
    {
        std::lock_guard lock(mutex_);
        idle.swap(idle_);
        open_ -= static_cast<std::uint32_t>(idle.size());
    }
    for (auto& server : idle) server->close();
}

namespace {
// An idle server should have sent nothing; data or EOF means it died or went astray.
bool looks_alive(ServerConnection& server) {
    char byte;
    ssize_t n = ::recv(server.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

std::unique_ptr<ServerConnection> Pool::take_idle_locked() {
    while (!idle_.empty()) {
        // Newest first: warm servers are reused, old ones age out (LIFO, as PgBouncer's default).
        auto server = std::move(idle_.back());
        idle_.pop_back();
        const bool too_old = settings_.server_lifetime.count() > 0 &&
                             Clock::now() - server->created_at() > settings_.server_lifetime;
        const bool outdated = server->generation() != target_generation_;
        if (!too_old && !outdated && looks_alive(*server)) return server;
        spdlog::info("server {} {}: closing ({})", server->id(), server->address(),
                     too_old    ? "server_lifetime over"
                     : outdated ? "server address or login changed by reload"
                                : "idle server closed or sent unexpected data");
        server->close();
        --open_;
    }
    return nullptr;
}

awaitable<ServerLease> Pool::acquire() {
    // Wait time is the whole call: queueing, connecting, checking.
    struct WaitClock {
        explicit WaitClock(PoolStats& s) : stats(s) {}
        ~WaitClock() {
            const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
            PoolStats::add(stats.wait_time_us, static_cast<std::uint64_t>(waited.count()));
        }
        PoolStats& stats;
        const Clock::time_point started = Clock::now();
    } wait_clock(stats_);
    while (true) {
        auto lease = co_await acquire_unchecked();
        const auto settings = this->settings();
        const auto& check_query = settings.server_check_query;
        const bool stale = Clock::now() - lease->released_at() >= settings.server_check_delay &&
                           lease->released_at() != lease->created_at();
        if (check_query.empty() || !stale) co_return lease;
        // Idle long enough that the network or the server may have dropped it: ask first.
        bool healthy = false;
        try {
            auto error = co_await with_deadline(lease->run_simple_query(check_query), settings.server_connect_timeout);
            healthy = !error && lease->state().idle();
        } catch (const std::exception&) {
            healthy = false;
        }
        if (healthy) {
            lease->mark_released();  // fresh again: the next check is a full delay away
            co_return lease;
        }
        lease.release_closed("server_check_query failed");
    }
}

awaitable<ServerLease> Pool::acquire_unchecked() {
    co_await wait_while_paused();
    const auto executor = co_await asio::this_coro::executor;
    std::shared_ptr<Waiter> waiter;
    std::uint32_t pool_size = 0;
    {
        std::lock_guard lock(mutex_);
        pool_size = settings_.pool_size;
        if (auto server = take_idle_locked()) co_return ServerLease(shared_from_this(), std::move(server));
        if (open_ < settings_.pool_size) {
            ++open_;
        } else {
            waiter = std::make_shared<Waiter>(executor);
            if (settings_.query_wait_timeout.count() > 0)
                waiter->timer.expires_after(settings_.query_wait_timeout);
            else
                waiter->timer.expires_at(Clock::time_point::max());
            waiters_.push_back(waiter);
        }
    }
    if (waiter) {
        spdlog::debug("pool {}/{}: at its bound of {}, client waits", database_, user_, pool_size);
        co_await waiter->timer.async_wait(asio::as_tuple(use_awaitable));
        std::lock_guard lock(mutex_);
        if (waiter->server) co_return ServerLease(shared_from_this(), std::move(waiter->server));
        if (waiter->error) throw PoolError(*waiter->error);
        if (!waiter->slot) {
            std::erase(waiters_, waiter);
            PoolStats::add(stats_.wait_timeouts);
            throw PoolError({"FATAL", sqlstate::kTooManyConnections,
                             "query_wait_timeout: no server connection became free within " +
                                 std::to_string(settings_.query_wait_timeout.count()) + " ms (pool " + database_ +
                                 "/" + user_ + " has all " + std::to_string(settings_.pool_size) +
                                 " servers in use)",
                             {},
                             "Raise pool_size or query_wait_timeout, or look for long transactions."});
        }
    }
    co_return co_await open_new();
}

awaitable<ServerLease> Pool::open_new() {
    ServerTarget target;
    std::uint64_t generation = 0;
    Duration connect_timeout{};
    {
        std::lock_guard lock(mutex_);
        target = target_;
        ++connecting_;
        generation = target_generation_;
        connect_timeout = settings_.server_connect_timeout;
    }
    const auto id = ++server_ids_;
    std::unique_ptr<ServerConnection> server;
    std::optional<protocol::ErrorFields> failure;
    try {
        server = co_await ServerConnection::connect(io_executor_, target, connect_timeout, id);
        server->set_generation(generation);
    } catch (const ServerLoginError& e) {
        failure = e.fields;
    }
    if (failure) {
        spdlog::warn("server {} {}: login failed for {}/{}: {}", id, target.address(), database_, user_,
                     failure->message);
        PoolStats::add(stats_.server_connect_failures);
        on_connect_failed(*failure);
        throw PoolError(*failure);
    }
    {
        std::lock_guard lock(mutex_);
        --connecting_;
    }
    PoolStats::add(stats_.server_connects);
    spdlog::info("server {} {}: connected for pool {}/{}", id, server->address(), database_, user_);
    co_return ServerLease(shared_from_this(), std::move(server));
}

void Pool::on_connect_failed(const protocol::ErrorFields& error) {
    std::lock_guard lock(mutex_);
    --open_;
    --connecting_;
    last_connect_failure_ = Clock::now();
    if (waiters_.empty()) return;
    if (open_ == 0) {
        // Nothing else in this pool works either: tell every waiter now rather than at
        // query_wait_timeout.
        for (auto& waiter : waiters_) {
            waiter->error = error;
            wake(waiter);
        }
        waiters_.clear();
        return;
    }
    auto next = std::move(waiters_.front());
    waiters_.pop_front();
    ++open_;
    next->slot = true;
    wake(next);
}

void Pool::give_back(std::unique_ptr<ServerConnection> server, bool reusable, const char* why) {
    std::unique_ptr<ServerConnection> to_close;
    {
        std::lock_guard lock(mutex_);
        if (!forget_leased_locked(server.get()) && reusable) {
            reusable = false;
            why = "RECONNECT, KILL or PAUSE asked for a new server";
        }
        if (reusable && !keep_on_release_locked(*server)) {
            reusable = false;
            why = server->generation() != target_generation_ ? "server address or login changed by reload"
                                                      : "pool_size reduced by reload";
        }
        if (reusable) {
            server->mark_released();
            if (!waiters_.empty()) {
                auto next = std::move(waiters_.front());
                waiters_.pop_front();
                next->server = std::move(server);
                wake(next);
            } else {
                idle_.push_back(std::move(server));
            }
        } else {
            --open_;
            to_close = std::move(server);
            if (!waiters_.empty() && open_ < settings_.pool_size) {
                auto next = std::move(waiters_.front());
                waiters_.pop_front();
                ++open_;
                next->slot = true;
                wake(next);
            }
        }
    }
    if (to_close) {
        spdlog::info("server {} {}: closing ({})", to_close->id(), to_close->address(), why ? why : "not reusable");
        to_close->close();
    }
}

void Pool::wake(const std::shared_ptr<Waiter>& waiter) {
    // The timer belongs to the waiter's strand: cancel it there, never from this thread.
    asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

// ---- admin console: leases, generations, PAUSE ----

void Pool::note_leased(ServerConnection* server) {
    std::lock_guard lock(leased_mutex_);
    leased_[server] = generation_.load();
}

bool Pool::forget_leased_locked(ServerConnection* server) {
    std::lock_guard lock(leased_mutex_);
    auto it = leased_.find(server);
    if (it == leased_.end()) return true;
    const bool current = it->second == generation_.load();
    leased_.erase(it);
    return current;
}

void Pool::close_old_idle_locked(std::vector<std::unique_ptr<ServerConnection>>& to_close) {
    for (auto& server : idle_) to_close.push_back(std::move(server));
    open_ -= static_cast<std::uint32_t>(idle_.size());
    idle_.clear();
}

awaitable<void> Pool::wait_while_paused() {
    std::shared_ptr<Waiter> waiter;
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (waiter) {
                if (waiter->error) throw PoolError(*waiter->error);
                if (!waiter->resumed) {
                    std::erase(paused_waiters_, waiter);
                    throw PoolError({"FATAL", sqlstate::kTooManyConnections,
                                     "query_wait_timeout: database \"" + database_ + "\" stayed paused for " +
                                         std::to_string(settings_.query_wait_timeout.count()) + " ms",
                                     {},
                                     "An administrator ran PAUSE; RESUME lets clients in again."});
                }
            }
            if (!paused_) co_return;
            const auto since = waiter ? waiter->since : Clock::now();
            waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
            if (settings_.query_wait_timeout.count() > 0)
                waiter->timer.expires_at(since + settings_.query_wait_timeout);
            else
                waiter->timer.expires_at(Clock::time_point::max());
            paused_waiters_.push_back(waiter);
        }
        spdlog::debug("pool {}/{}: paused, client waits", database_, user_);
        co_await waiter->timer.async_wait(asio::as_tuple(use_awaitable));
    }
}

Pool::View Pool::view(bool with_servers) {
    View view;
    std::lock_guard lock(mutex_);
    std::lock_guard leased_lock(leased_mutex_);
    const auto now = Clock::now();
    const auto generation = generation_.load();
    view.paused = paused_;
    view.waiting = static_cast<std::uint32_t>(waiters_.size() + paused_waiters_.size());
    view.paused_waiting = static_cast<std::uint32_t>(paused_waiters_.size());
    auto oldest = now;
    for (const auto& waiter : waiters_) oldest = std::min(oldest, waiter->since);
    for (const auto& waiter : paused_waiters_) oldest = std::min(oldest, waiter->since);
    view.maxwait_us = std::chrono::duration_cast<std::chrono::microseconds>(now - oldest).count();

    auto describe = [&](ServerConnection& server, const char* state, bool close_needed) {
        ServerInfo info;
        info.id = server.id();
        info.state = state;
        info.address = server.address();
        info.created_at = server.created_at();
        info.released_at = server.released_at();
        info.remote_pid = server.backend_key().process_id;
        info.close_needed = close_needed;
        // Only reads the descriptor: the session that holds the server never closes it
        // before giving it back, which takes mutex_.
        boost::system::error_code ec;
        auto local = server.socket().local_endpoint(ec);
        if (!ec && local.protocol().family() != AF_UNIX) {
            asio::ip::tcp::endpoint tcp;
            if (local.size() <= tcp.capacity()) {
                std::memcpy(tcp.data(), local.data(), local.size());
                tcp.resize(local.size());
                info.local_addr = tcp.address().to_string();
                info.local_port = tcp.port();
            }
        } else if (!ec) {
            info.local_addr = "unix";
        }
        view.servers.push_back(std::move(info));
    };
    for (auto& server : idle_) {
        const bool used = !settings_.server_check_query.empty() && now - server->released_at() >= settings_.server_check_delay;
        ++(used ? view.used : view.idle);
        if (with_servers) describe(*server, used ? "used" : "idle", false);
    }
    for (auto& [server, leased_generation] : leased_) {
        ++view.active;
        const bool close_needed = leased_generation != generation;
        view.close_needed += close_needed;
        if (with_servers) describe(*server, "active", close_needed);
    }
    const auto settled = static_cast<std::uint32_t>(idle_.size() + leased_.size());
    view.login = open_ > settled ? open_ - settled : 0;
    return view;
}

void Pool::reconnect() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        close_old_idle_locked(to_close);
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (RECONNECT)", server->id(), server->address());
        server->close();
    }
}

void Pool::kill(const protocol::ErrorFields& why) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        close_old_idle_locked(to_close);
        for (auto* queue : {&waiters_, &paused_waiters_}) {
            for (auto& waiter : *queue) {
                waiter->error = why;
                wake(waiter);
            }
            queue->clear();
        }
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (KILL)", server->id(), server->address());
        server->close();
    }
}

void Pool::pause() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        paused_ = true;
        ++generation_;
        close_old_idle_locked(to_close);
    }
    for (auto& server : to_close) {
        spdlog::info("server {} {}: closing (PAUSE)", server->id(), server->address());
        server->close();
    }
}

void Pool::resume() {
    std::lock_guard lock(mutex_);
    paused_ = false;
    for (auto& waiter : paused_waiters_) {
        waiter->resumed = true;
        wake(waiter);
    }
    paused_waiters_.clear();
}

}  // namespace pgsluice::proxy
