// Pool: acquiring, waiting, releasing.
#include "proxy/pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy {

namespace sqlstate = protocol::sqlstate;

// A session waiting for a server. The releasing thread fills in `server` (or grants a
// `slot` to open one, or an `error`) under the pool's mutex, then cancels `timer` on the
// waiter's own strand; the waiter sees the outcome under the mutex when it wakes.
struct Pool::Waiter {
    explicit Waiter(asio::any_io_executor executor) : timer(executor) {}
    asio::steady_timer timer;
    std::unique_ptr<ServerConnection> server;
    bool slot = false;
    std::optional<protocol::ErrorFields> error;
};

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
        ++generation_;
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
    return server.generation() == generation_ && open_ <= settings_.pool_size;
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
    return {open_, static_cast<std::uint32_t>(idle_.size()), static_cast<std::uint32_t>(waiters_.size())};
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
        if (!resting && open_ < settings_.min_pool_size) {
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
        const bool outdated = server->generation() != generation_;
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
        generation = generation_;
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
        on_connect_failed(*failure);
        throw PoolError(*failure);
    }
    spdlog::info("server {} {}: connected for pool {}/{}", id, server->address(), database_, user_);
    co_return ServerLease(shared_from_this(), std::move(server));
}

void Pool::on_connect_failed(const protocol::ErrorFields& error) {
    std::lock_guard lock(mutex_);
    --open_;
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
        if (reusable && !keep_on_release_locked(*server)) {
            reusable = false;
            why = server->generation() != generation_ ? "server address or login changed by reload"
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

}  // namespace pgsluice::proxy
