// Pool: acquiring, waiting, releasing; the slots behind pool_size, the reserve pool and the
// shared caps (max_db_connections, max_user_connections).
#include "proxy/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy {

namespace sqlstate = protocol::sqlstate;

// A session waiting for a server. The releasing thread fills in `server` (or grants a
// `slot` to open one, or an `error`) under the pool's mutex, takes the waiter out of the
// queue, then wakes it on its own worker: a coroutine's waiter by cancelling its `timer`, a
// quick waiter by calling its session. The waiter reads the outcome under the mutex.
struct PoolWaiter {
    explicit PoolWaiter(Executor executor_)
        : executor(executor_), worker(&asio::query(executor_, asio::execution::context)) {}
    const Executor executor;                 // its session's worker
    const asio::execution_context* worker;  // the same, to compare (see next_waiter_locked)
    std::optional<asio::steady_timer> timer;           // a coroutine's wait
    std::shared_ptr<Pool::QuickWaiter> quick;          // a quick waiter's session, until told
    Clock::time_point since = Clock::now();  // FIFO across pools, and the metrics' longest wait
    bool reserve_tried = false;  // it waited reserve_pool_timeout and asked for a reserve slot
    std::unique_ptr<ServerConnection> server;
    bool slot = false;
    bool reserve_slot = false;  // the slot granted is one of the reserve_pool_size extras
    std::optional<protocol::ErrorFields> error;
    bool resumed = false;    // a paused pool resumed: try again
    bool timed_out = false;  // a quick waiter whose query_wait_timeout passed in the queue
};

WaitOutcome::WaitOutcome(std::shared_ptr<Pool> pool, std::shared_ptr<PoolWaiter> waiter)
    : pool_(std::move(pool)), waiter_(std::move(waiter)) {}

WaitOutcome& WaitOutcome::operator=(WaitOutcome&& other) noexcept {
    if (this != &other) {
        give_back();
        pool_ = std::move(other.pool_);
        waiter_ = std::move(other.waiter_);
    }
    return *this;
}

WaitOutcome::~WaitOutcome() { give_back(); }

void WaitOutcome::give_back() {
    if (waiter_) pool_->abandon(*waiter_);
    waiter_.reset();
    pool_.reset();
}

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server)
    : pool_(std::move(pool)), server_(std::move(server)) {
    if (server_) pool_->note_leased(server_.get());
}

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server, Listed)
    : pool_(std::move(pool)), server_(std::move(server)) {}

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
           Executor io_executor, std::atomic<std::uint64_t>& server_ids)
    : database_(std::move(database)),
      user_(std::move(user)),
      settings_(std::move(settings)),
      io_executor_(std::move(io_executor)),
      server_ids_(server_ids),
      target_(std::move(target)) {
    publish_traffic_limits_locked();  // nobody else sees the pool yet
}

Pool::~Pool() {
    // A pool that goes away must not stay on a budget's list of starving pools.
    if (starving_on_) starving_on_->clear_starving(this);
}

void Pool::share_budgets(std::shared_ptr<ConnectionBudget> database, std::shared_ptr<ConnectionBudget> user) {
    if (database) database->join(weak_from_this());
    if (user) user->join(weak_from_this());
    std::lock_guard lock(mutex_);
    db_budget_ = std::move(database);
    user_budget_ = std::move(user);
}

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
        publish_traffic_limits_locked();
        // Shrinking: idle servers go first (oldest first); busy ones are closed as they come back.
        auto open = open_ - closing_;
        while (open > settings_.pool_size && !idle_.empty()) {
            to_close.push_back(std::move(idle_.front()));
            idle_.pop_front();
            --open;
        }
        grant_waiters_locked();  // growing: waiters may open servers now
    }
    retire_all(to_close, "pool_size reduced by reload");
}

bool Pool::same_target(const ServerTarget& target) const {
    std::lock_guard lock(mutex_);
    return target.host == target_.host && target.port == target_.port && target.dbname == target_.dbname &&
           target.user == target_.user && target.password == target_.password &&
           target.server_key == target_.server_key;
}

void Pool::retarget(ServerTarget target) {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        // A ClientKey proven against the old verifier is useless with a new one.
        if (target.server_key == target_.server_key) target.client_key = target_.client_key;
        target_ = std::move(target);
        ++target_generation_;
        close_old_idle_locked(to_close);
    }
    retire_all(to_close, "server address or login changed by reload");
}

bool Pool::keep_on_release_locked(const ServerConnection& server) const {
    if (server.generation() != target_generation_) return false;
    const auto open = open_ - closing_;
    // A reserve server serves the clients waiting now, then goes: reserve is for bursts.
    return open <= settings_.pool_size || (!waiters_.empty() && open <= settings_.pool_size + settings_.reserve_pool_size);
}

// ---- slots: pool_size, the reserve pool, and the shared budgets ----

bool Pool::take_slot_locked(bool with_reserve) {
    const auto cap = settings_.pool_size + (with_reserve ? settings_.reserve_pool_size : 0);
    if (open_ >= cap) return false;
    if (auto* refused = ConnectionBudget::take(db_budget_.get(), settings_.max_db_connections, user_budget_.get(),
                                               settings_.max_user_connections)) {
        blocked_by_ = refused;
        return false;
    }
    ++open_;
    return true;
}

void Pool::release_slot_locked() {
    --open_;
    if (db_budget_) db_budget_->give_back();
    if (user_budget_) user_budget_->give_back();
}

bool Pool::reserve_due_locked(const Waiter& waiter) const {
    return settings_.reserve_pool_size > 0 && waiter.reserve_tried;
}

void Pool::grant_waiters_locked() {
    while (!waiters_.empty()) {
        auto& next = waiters_.front();
        if (!take_slot_locked(reserve_due_locked(*next))) break;
        next->slot = true;
        next->reserve_slot = open_ > settings_.pool_size;
        wake(next);
        waiters_.pop_front();
    }
    update_starving_locked();
}

// Waiters while the pool itself has room means a shared budget holds them back: say so to
// the budget, whose other pools then give up idle servers instead of keeping them.
void Pool::update_starving_locked() {
    ConnectionBudget* starving_on = nullptr;
    if (!waiters_.empty() && blocked_by_) {
        const auto cap =
            settings_.pool_size + (reserve_due_locked(*waiters_.front()) ? settings_.reserve_pool_size : 0);
        if (open_ < cap) starving_on = blocked_by_;
    }
    if (starving_on_ && starving_on_ != starving_on) starving_on_->clear_starving(this);
    if (starving_on) starving_on->set_starving(this, waiters_.front()->since);  // the front may have changed
    starving_on_ = starving_on;
}

// Should this pool give a released server up rather than keep it (idle, or for its own next
// waiter)? When a sibling held back by a shared cap waits and nobody waits here, yes. When
// both wait, only if the sibling's client has waited longer and this pool holds more than
// its share of the cap: the pools converge on fair shares instead of closing and reopening
// a server at every transaction.
bool Pool::sibling_waited_longer_locked() const {
    const auto own = waiters_.empty() ? Clock::time_point::max() : waiters_.front()->since;
    const std::pair<ConnectionBudget*, std::uint32_t> budgets[] = {
        {db_budget_.get(), settings_.max_db_connections}, {user_budget_.get(), settings_.max_user_connections}};
    for (auto [budget, limit] : budgets) {
        if (!budget || limit == 0) continue;
        const auto starving = budget->starving_besides(this);
        if (starving.pools == 0 || starving.oldest >= own) continue;
        if (waiters_.empty()) return true;
        const auto share = (limit + starving.pools) / (starving.pools + 1);  // rounded up
        if (open_ - donating_ > share) return true;
    }
    return false;
}

void Pool::notify_budgets() {
    for (auto* budget : {db_budget_.get(), user_budget_.get()}) {
        if (!budget || !budget->has_starving()) continue;
        for (auto& member : budget->members())
            if (member.get() != this) member->on_budget_freed();
    }
}

void Pool::make_room(ConnectionBudget* budget) {
    const auto whom = "pool " + database_ + "/" + user_ + ", held back by the cap of " + budget->name();
    for (auto& member : budget->members())
        if (member.get() != this && member->surrender_idle(whom)) return;
}

void Pool::on_budget_freed() {
    std::lock_guard lock(mutex_);
    grant_waiters_locked();
}

bool Pool::surrender_idle(const std::string& for_whom) {
    std::unique_ptr<ServerConnection> server;
    {
        std::lock_guard lock(mutex_);
        if (idle_.empty()) return false;
        server = std::move(idle_.front());  // the oldest
        idle_.pop_front();
    }
    retire(std::move(server), "idle, making room for " + for_whom, true);
    return true;
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
    ConnectionBudget* starved_by = nullptr;
    {
        std::lock_guard lock(mutex_);
        const auto now = Clock::now();
        auto open = open_ - closing_;
        for (auto it = idle_.begin(); it != idle_.end();) {
            auto& server = *it;
            const bool idle_too_long = settings_.server_idle_timeout.count() > 0 &&
                                       now - server->released_at() > settings_.server_idle_timeout &&
                                       open > settings_.min_pool_size;
            const bool too_old = settings_.server_lifetime.count() > 0 &&
                                 now - server->created_at() > settings_.server_lifetime;
            if (idle_too_long || too_old) {
                to_close.push_back(std::move(server));
                it = idle_.erase(it);
                --open;
            } else {
                ++it;
            }
        }
        // Keep min_pool_size servers warm, but give a failing server a few seconds' rest, and
        // leave a shared budget to the pools whose clients wait for it.
        const bool resting = now - last_connect_failure_ < std::chrono::seconds(5);
        const bool budget_wanted =
            (db_budget_ && db_budget_->has_starving()) || (user_budget_ && user_budget_->has_starving());
        if (!resting && !paused_ && !budget_wanted)
            while (open_ - closing_ < settings_.min_pool_size && take_slot_locked(false)) ++to_open;
        // A starved pool asks its siblings again now and then, should a wake-up have gone amiss.
        starved_by = starving_on_;
    }
    retire_all(to_close, "server_idle_timeout or server_lifetime");
    if (starved_by) make_room(starved_by);
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
        for (std::size_t i = 0; i < idle.size(); ++i) release_slot_locked();
    }
    for (auto& server : idle) server->close();
}

namespace {
// An idle server should have sent nothing; data or EOF means it died or went astray.
bool looks_alive(ServerConnection& server) {
    return !server.transport().has_unread_input_or_eof();
}
}  // namespace

std::unique_ptr<ServerConnection> Pool::take_idle_locked(bool& freed, const Executor& near) {
    const auto* worker = &asio::query(near, asio::execution::context);
    while (!idle_.empty()) {
        // Newest first: warm servers are reused, old ones age out (LIFO, as PgBouncer's
        // default). The newest on the caller's own worker if there is one: moving a socket
        // to another worker's epoll set costs three system calls.
        auto pick = idle_.end() - 1;
        for (auto it = idle_.end(); it != idle_.begin();) {
            --it;
            if (&asio::query((*it)->transport().get_executor(), asio::execution::context) == worker) {
                pick = it;
                break;
            }
        }
        auto server = std::move(*pick);
        idle_.erase(pick);
        const bool too_old = settings_.server_lifetime.count() > 0 &&
                             Clock::now() - server->created_at() > settings_.server_lifetime;
        const bool outdated = server->generation() != target_generation_;
        // Whether it is alive is asked outside the lock (keep_if_alive): a system call.
        if (!too_old && !outdated) return server;
        // An old one gets no goodbye: close it here.
        spdlog::info("server {} {}: closing ({})", server->id(), server->address(),
                     too_old ? "server_lifetime over" : "server address or login changed by reload");
        server->close();
        release_slot_locked();
        freed = true;
    }
    return nullptr;
}

bool Pool::keep_if_alive(std::unique_ptr<ServerConnection>& server) {
    // A server released within the last millisecond is taken as it is, as PgBouncer takes
    // one its event loop has not yet seen close: a backend terminated in that instant is
    // met by the next query instead, as if it had been terminated a moment later, during
    // that query. Under load that spares a system call per transaction.
    constexpr auto kJustReleased = std::chrono::milliseconds(1);
    if (server->released_at() != server->created_at() && Clock::now() - server->released_at() < kJustReleased)
        return true;
    if (looks_alive(*server)) return true;
    // Its backend is gone already (or it went astray): no goodbye.
    spdlog::info("server {} {}: closing (idle server closed or sent unexpected data)", server->id(),
                 server->address());
    server->close();
    {
        std::lock_guard lock(mutex_);
        forget_leased_locked(server.get());
        release_slot_locked();
    }
    server.reset();
    notify_budgets();
    return false;
}

Pool::QuickAcquire Pool::acquire_quick(const Executor& executor, std::shared_ptr<QuickWaiter> who) {
    while (true)
        if (auto out = try_acquire_quick(executor, who)) return std::move(*out);
}

std::optional<Pool::QuickAcquire> Pool::try_acquire_quick(const Executor& executor, std::shared_ptr<QuickWaiter>& who) {
    QuickAcquire out;
    std::unique_ptr<ServerConnection> idle;
    bool freed = false;
    ConnectionBudget* blocked = nullptr;
    std::uint32_t pool_size = 0;
    {
        std::lock_guard lock(mutex_);
        // PAUSE holds clients back, and a reserve pool needs a waiter's own timer: acquire().
        if (paused_ || settings_.reserve_pool_size > 0) return out;
        idle = take_idle_locked(freed, executor);
        if (idle) {
            // One idle past server_check_delay is checked first, by acquire(): put it back.
            if (!settings_.server_check_query.empty() &&
                Clock::now() - idle->released_at() >= settings_.server_check_delay &&
                idle->released_at() != idle->created_at()) {
                idle_.push_back(std::move(idle));
            } else {
                note_leased_locked(idle.get());
            }
        } else if (take_slot_locked(false)) {
            auto waiter = std::make_shared<Waiter>(executor);
            waiter->slot = true;
            out.outcome = WaitOutcome(shared_from_this(), std::move(waiter));
        } else {
            auto waiter = std::make_shared<Waiter>(executor);
            waiter->quick = std::move(who);
            waiters_.push_back(std::move(waiter));
            out.queued = true;
            pool_size = settings_.pool_size;
            if (open_ < settings_.pool_size) blocked = blocked_by_;
            update_starving_locked();
            arm_quick_deadline_locked();
        }
    }
    if (freed) notify_budgets();
    if (idle && !keep_if_alive(idle)) return std::nullopt;  // a dead one: take the next, or a slot
    if (blocked) make_room(blocked);
    if (out.queued) note_client_waits(blocked, pool_size);
    if (idle) {
        PoolStats::add(stats_.waits);  // a wait of zero, as acquire() counts it
        out.lease = ServerLease(shared_from_this(), std::move(idle), ServerLease::Listed{});
        out.lease->move_to(executor);
    }
    return out;
}

ServerLease Pool::take_waited_server(WaitOutcome& outcome, const Executor& executor) {
    std::unique_ptr<ServerConnection> server;
    Clock::time_point since;
    {
        std::lock_guard lock(mutex_);
        server = std::move(outcome.waiter_->server);
        since = outcome.waiter_->since;
    }
    if (!server) return {};
    outcome.waiter_.reset();  // taken: nothing left to give back
    outcome.pool_.reset();
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since);
    PoolStats::add(stats_.wait_time_us, static_cast<std::uint64_t>(waited.count()));
    PoolStats::add(stats_.waits);
    // Released a moment ago (mark_released): fresh, no check query due. Listed as leased
    // when it was handed to the waiter.
    ServerLease lease(shared_from_this(), std::move(server), ServerLease::Listed{});
    lease->move_to(executor);
    return lease;
}

awaitable<ServerLease> Pool::finish_wait(std::shared_ptr<Waiter> waiter) {
    {
        std::lock_guard lock(mutex_);
        if (waiter->server)
            co_return ServerLease(shared_from_this(), std::move(waiter->server), ServerLease::Listed{});
        if (waiter->error) throw PoolError(*waiter->error);
        if (waiter->timed_out) {
            PoolStats::add(stats_.wait_timeouts);
            throw PoolError(wait_timeout_error_locked());
        }
    }
    if (!waiter->slot) co_return co_await acquire_unchecked();  // nothing decided (not expected): start over
    co_return co_await open_new();
}

void Pool::abandon(Waiter& waiter) {
    std::unique_ptr<ServerConnection> server;
    bool freed = false;
    {
        std::lock_guard lock(mutex_);
        if (std::erase_if(waiters_, [&](const auto& queued) { return queued.get() == &waiter; }) > 0)
            update_starving_locked();
        server = std::move(waiter.server);
        if (waiter.slot) {
            waiter.slot = false;
            release_slot_locked();
            grant_waiters_locked();
            freed = true;
        }
    }
    // Given to this waiter a moment ago, idle and clean: the next one may have it.
    if (server) give_back(std::move(server), true, nullptr);
    if (freed) notify_budgets();
}

void Pool::arm_quick_deadline_locked() {
    if (quick_deadline_armed_ || settings_.query_wait_timeout.count() == 0) return;
    quick_deadline_armed_ = true;
    asio::post(io_executor_, [self = shared_from_this()] { self->expire_quick_waiters(nullptr); });
}

// On io_executor_: tells the quick waiters whose query_wait_timeout passed, and sets the
// timer for the next deadline. The queue is in arrival order, so the first quick waiter
// still within its time has the next deadline. The timer lives only while armed, owned by
// its own wait (a pool may outlive the io_context, a timer must not).
void Pool::expire_quick_waiters(std::shared_ptr<asio::steady_timer> timer) {
    auto next = Clock::time_point::max();
    {
        std::lock_guard lock(mutex_);
        const auto timeout = settings_.query_wait_timeout;
        const auto now = Clock::now();
        bool expired = false;
        if (timeout.count() > 0) {
            for (auto it = waiters_.begin(); it != waiters_.end();) {
                auto& waiter = **it;
                if (!waiter.quick) {
                    ++it;
                    continue;
                }
                if (waiter.since + timeout > now) {
                    next = waiter.since + timeout;
                    break;
                }
                waiter.timed_out = true;
                auto told = std::move(*it);
                it = waiters_.erase(it);
                wake(told);
                expired = true;
            }
        }
        if (expired) update_starving_locked();
        if (next == Clock::time_point::max()) {
            quick_deadline_armed_ = false;
            return;
        }
    }
    if (!timer) timer = std::make_shared<asio::steady_timer>(io_executor_);
    timer->expires_at(next);
    timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code& ec) mutable {
        if (!ec) self->expire_quick_waiters(std::move(timer));
    });
}

SilenceLimits Pool::traffic_limits() const {
    return {Duration(query_timeout_ms_.load(std::memory_order_relaxed)),
            Duration(idle_transaction_timeout_ms_.load(std::memory_order_relaxed)),
            Duration(client_idle_timeout_ms_.load(std::memory_order_relaxed))};
}

void Pool::publish_traffic_limits_locked() {
    query_timeout_ms_.store(settings_.query_timeout.count(), std::memory_order_relaxed);
    idle_transaction_timeout_ms_.store(settings_.idle_transaction_timeout.count(), std::memory_order_relaxed);
    client_idle_timeout_ms_.store(settings_.client_idle_timeout.count(), std::memory_order_relaxed);
}
awaitable<ServerLease> Pool::acquire(WaitOutcome outcome) {
    // Wait time is the whole call (from the quick wait's start, if there was one):
    // queueing, connecting, checking.
    struct WaitClock {
        WaitClock(PoolStats& s, Clock::time_point since) : stats(s), started(since) {}
        ~WaitClock() {
            const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
            PoolStats::add(stats.wait_time_us, static_cast<std::uint64_t>(waited.count()));
            PoolStats::add(stats.waits);
        }
        PoolStats& stats;
        const Clock::time_point started;
    } wait_clock(stats_, outcome ? outcome.waiter_->since : Clock::now());
    const auto executor = worker_executor(co_await asio::this_coro::executor);
    // Taken over from the outcome: its server or slot is consumed here now.
    std::shared_ptr<Waiter> waited = std::move(outcome.waiter_);
    outcome.pool_.reset();
    while (true) {
        // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
        ServerLease lease;
        if (waited)
            lease = co_await finish_wait(std::exchange(waited, nullptr));
        else
            lease = co_await acquire_unchecked();
        lease->move_to(executor);
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

void Pool::note_client_waits(ConnectionBudget* blocked, std::uint32_t pool_size) {
    // At info level once in a while (the pool at its bound is worth knowing, but not once
    // per transaction under load), at debug level otherwise; not formatted when neither is on.
    const auto level = note_bound_reached() ? spdlog::level::info : spdlog::level::debug;
    if (!spdlog::should_log(level)) return;
    spdlog::log(level, "pool {}/{}: no server free ({}), client waits", database_, user_,
                blocked ? "held back by the cap of " + blocked->name()
                        : "pool_size " + std::to_string(pool_size));
}

bool Pool::note_bound_reached() {
    const auto now = Clock::now().time_since_epoch().count();
    auto last = last_bound_log_.load(std::memory_order_relaxed);
    const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(10)).count();
    if (last != 0 && now - last < every) return false;
    return last_bound_log_.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

protocol::ErrorFields Pool::wait_timeout_error_locked() const {
    std::string why;
    if (open_ < settings_.pool_size && blocked_by_ && blocked_by_ == db_budget_.get())
        why = "database " + database_ + " has all " + std::to_string(settings_.max_db_connections) +
              " of its max_db_connections in use";
    else if (open_ < settings_.pool_size && blocked_by_ && blocked_by_ == user_budget_.get())
        why = "user " + user_ + " has all " + std::to_string(settings_.max_user_connections) +
              " of its max_user_connections in use";
    else
        why = "pool " + database_ + "/" + user_ + " has all " + std::to_string(settings_.pool_size) + " servers in use";
    return {"FATAL",
            sqlstate::kTooManyConnections,
            "query_wait_timeout: no server connection became free within " +
                std::to_string(settings_.query_wait_timeout.count()) + " ms (" + why + ")",
            {},
            "Raise pool_size (or max_db_connections / max_user_connections) or query_wait_timeout, or look for "
            "long transactions."};
}

awaitable<ServerLease> Pool::acquire_unchecked() {
    co_await wait_while_paused();
    const auto executor = worker_executor(co_await asio::this_coro::executor);
    std::shared_ptr<Waiter> waiter;
    std::unique_ptr<ServerConnection> idle;
    ConnectionBudget* blocked = nullptr;
    bool freed = false;
    std::uint32_t pool_size = 0;
    auto deadline = Clock::time_point::max();
    auto reserve_at = Clock::time_point::max();
    {
        std::lock_guard lock(mutex_);
        pool_size = settings_.pool_size;
        idle = take_idle_locked(freed, executor);
        if (!idle && !take_slot_locked(false)) {
            waiter = std::make_shared<Waiter>(executor);
            waiter->timer.emplace(executor);
            if (settings_.query_wait_timeout.count() > 0) deadline = waiter->since + settings_.query_wait_timeout;
            if (settings_.reserve_pool_size > 0) reserve_at = waiter->since + settings_.reserve_pool_timeout;
            waiter->timer->expires_at(std::min(deadline, reserve_at));
            waiters_.push_back(waiter);
            if (open_ < settings_.pool_size) blocked = blocked_by_;
            update_starving_locked();
        }
    }
    if (freed) notify_budgets();
    if (idle && !keep_if_alive(idle)) co_return co_await acquire_unchecked();  // a dead one: once more
    if (idle) co_return ServerLease(shared_from_this(), std::move(idle));
    if (blocked) make_room(blocked);
    if (waiter) note_client_waits(blocked, pool_size);
    while (waiter) {
        co_await waiter->timer->async_wait(asio::as_tuple(use_awaitable));
        bool granted = false;
        bool reserve = false;
        std::string reserve_note;  // for the log line, written under the lock only when a reserve server opens
        blocked = nullptr;
        {
            std::lock_guard lock(mutex_);
            if (waiter->server)
                co_return ServerLease(shared_from_this(), std::move(waiter->server), ServerLease::Listed{});
            if (waiter->error) throw PoolError(*waiter->error);
            const auto now = Clock::now();
            if (waiter->slot) {
                granted = true;
                reserve = waiter->reserve_slot;
            } else if (now >= deadline) {
                std::erase(waiters_, waiter);
                update_starving_locked();
                PoolStats::add(stats_.wait_timeouts);
                throw PoolError(wait_timeout_error_locked());
            } else if (!waiter->reserve_tried && now >= reserve_at) {
                // It waited reserve_pool_timeout: it may open one of the reserve_pool_size extras.
                waiter->reserve_tried = true;
                if (take_slot_locked(true)) {
                    std::erase(waiters_, waiter);
                    granted = true;
                    reserve = open_ > settings_.pool_size;
                } else if (open_ < settings_.pool_size + settings_.reserve_pool_size) {
                    blocked = blocked_by_;
                }
                update_starving_locked();
            }
            if (reserve)
                reserve_note = fmt::format("({} ms; {} servers, pool_size {}, reserve_pool_size {})",
                                           settings_.reserve_pool_timeout.count(), open_, settings_.pool_size,
                                           settings_.reserve_pool_size);
            if (!granted) waiter->timer->expires_at(deadline);
        }
        if (granted) {
            if (reserve)
                spdlog::info("pool {}/{}: a client waited reserve_pool_timeout {}, opening a reserve server", database_,
                             user_, reserve_note);
            break;
        }
        if (blocked) make_room(blocked);
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
        // On the caller's worker: the session that asked for it uses it first.
        server = co_await ServerConnection::connect(worker_executor(co_await asio::this_coro::executor), target, connect_timeout, id);
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
    {
        std::lock_guard lock(mutex_);
        release_slot_locked();
        --connecting_;
        last_connect_failure_ = Clock::now();
        if (!waiters_.empty() && open_ == 0) {
            // Nothing else in this pool works either: tell every waiter now rather than at
            // query_wait_timeout.
            for (auto& waiter : waiters_) {
                waiter->error = error;
                wake(waiter);
            }
            waiters_.clear();
            update_starving_locked();
        } else {
            grant_waiters_locked();  // the next waiter tries again
        }
    }
    notify_budgets();
}

void Pool::give_back(std::unique_ptr<ServerConnection> server, bool reusable, const char* why) {
    std::unique_ptr<ServerConnection> to_close;
    bool donation = false;
    {
        std::lock_guard lock(mutex_);
        if (!forget_leased_locked(server.get()) && reusable) {
            reusable = false;
            why = "RECONNECT, KILL or PAUSE asked for a new server";
        }
        if (reusable && !keep_on_release_locked(*server)) {
            reusable = false;
            why = server->generation() != target_generation_ ? "server address or login changed by reload"
                  : open_ - closing_ > settings_.pool_size + settings_.reserve_pool_size
                      ? "pool_size reduced by reload"
                      : "reserve server no longer needed";
        }
        if (reusable) {
            server->mark_released();
            if (sibling_waited_longer_locked()) {
                // Another pool's client waits for the shared cap that this server holds, and
                // has waited longer than anyone here (or nobody waits here): make room for it.
                to_close = std::move(server);
                why = "released, making room for a pool held back by max_db_connections or max_user_connections";
                donation = true;
            } else if (!waiters_.empty()) {
                auto next = next_waiter_locked(*server);
                note_leased_locked(server.get());  // on lease from now: the waiter takes it as it is
                next->server = std::move(server);
                wake(next);
                update_starving_locked();
            } else {
                idle_.push_back(std::move(server));
            }
        } else {
            to_close = std::move(server);
        }
    }
    if (to_close) retire(std::move(to_close), why ? why : "not reusable", donation);
}

namespace {
// How much longer than a waiter on the releasing server's own worker the oldest waiter may
// have waited before it gets the server anyway: short enough that a skewed split of servers
// between workers evens out, long enough that most hand-offs stay on one thread.
constexpr auto kLocalHandoffSlack = std::chrono::milliseconds(5);
constexpr std::size_t kLocalHandoffScan = 32;  // waiters looked at past the oldest
}  // namespace

std::shared_ptr<Pool::Waiter> Pool::next_waiter_locked(ServerConnection& server) {
    // FIFO, except that a waiter on the server's worker goes first when it has waited about
    // as long as the oldest: the server's socket then need not move to another epoll set.
    const auto* worker = &asio::query(server.transport().get_executor(), asio::execution::context);
    auto pick = waiters_.begin();
    if ((*pick)->worker != worker) {
        const auto scan_end = waiters_.begin() + std::min(waiters_.size(), kLocalHandoffScan + 1);
        for (auto it = std::next(waiters_.begin()); it != scan_end; ++it) {
            if ((*it)->worker != worker) continue;
            if ((*it)->since - (*pick)->since < kLocalHandoffSlack) pick = it;
            break;
        }
    }
    auto next = std::move(*pick);
    waiters_.erase(pick);
    return next;
}

void Pool::retire_all(std::vector<std::unique_ptr<ServerConnection>>& servers, const char* why) {
    for (auto& server : servers) retire(std::move(server), why);
    servers.clear();
}

void Pool::retire(std::unique_ptr<ServerConnection> server, const std::string& why, bool donation) {
    spdlog::info("server {} {}: closing ({})", server->id(), server->address(), why);
    {
        std::lock_guard lock(mutex_);
        ++closing_;
        if (donation) ++donating_;
    }
    // On the worker its socket is registered with, where nothing else touches it.
    auto executor = server->transport().get_executor();
    asio::co_spawn(
        executor,
        [self = shared_from_this(), server = std::move(server), donation]() mutable -> awaitable<void> {
            co_await self->retire_gracefully(std::move(server), donation);
        },
        asio::detached);
}

namespace {
// Reads and drops whatever a terminated server still sends, up to its EOF.
awaitable<bool> until_eof(Transport& transport) {
    char sink[512];
    while (true) {
        auto [ec, n] = co_await transport.read_some(asio::buffer(sink));
        if (ec) co_return true;
    }
}
}  // namespace

awaitable<void> Pool::retire_gracefully(std::unique_ptr<ServerConnection> server, bool donation) {
    try {
        std::string terminate;
        protocol::append_terminate(terminate);
        auto& transport = server->transport();
        const auto ec = co_await transport.write(asio::buffer(terminate));
        // A backend whose socket closed has left pg_stat_activity; do not wait for a dead one long.
        if (!ec) co_await with_deadline(until_eof(transport), std::chrono::seconds(2));
    } catch (const std::exception&) {
        // The deadline passed: close it anyway.
    }
    server->close();
    {
        std::lock_guard lock(mutex_);
        release_slot_locked();
        --closing_;
        if (donation)
            --donating_;
        else
            grant_waiters_locked();
    }
    notify_budgets();
    if (donation) on_budget_freed();  // nobody starved took it after all: this pool's waiters may
}

void Pool::wake(const std::shared_ptr<Waiter>& waiter) {
    if (waiter->quick) {
        // The outcome travels with the call, so the waiter and the session never own each
        // other: should the post never run (shutdown), both are simply freed.
        asio::post(waiter->executor, [self = shared_from_this(), who = std::move(waiter->quick), waiter]() mutable {
            who->on_wait_over(WaitOutcome(std::move(self), std::move(waiter)));
        });
        return;
    }
    // The timer belongs to the waiter's worker: cancel it there, never from this thread.
    asio::post(waiter->executor, [waiter] { waiter->timer->cancel(); });
}

// ---- admin console: leases, generations, PAUSE ----

void Pool::note_leased(ServerConnection* server) {
    std::lock_guard lock(mutex_);
    note_leased_locked(server);
}

void Pool::note_leased_locked(ServerConnection* server) {
    if (server->leased_) return;
    server->leased_ = true;
    server->leased_generation_ = generation_.load();
    server->leased_previous_ = nullptr;
    server->leased_next_ = leased_first_;
    if (leased_first_) leased_first_->leased_previous_ = server;
    leased_first_ = server;
}

bool Pool::forget_leased_locked(ServerConnection* server) {
    if (!server->leased_) return true;
    (server->leased_previous_ ? server->leased_previous_->leased_next_ : leased_first_) = server->leased_next_;
    if (server->leased_next_) server->leased_next_->leased_previous_ = server->leased_previous_;
    server->leased_previous_ = server->leased_next_ = nullptr;
    server->leased_ = false;
    return server->leased_generation_ == generation_.load();
}

void Pool::close_old_idle_locked(std::vector<std::unique_ptr<ServerConnection>>& to_close) {
    // Their slots stay counted until retire() has seen the backends go.
    for (auto& server : idle_) to_close.push_back(std::move(server));
    idle_.clear();
}

awaitable<void> Pool::wait_while_paused() {
    // Outside the lock: no co_await may run while mutex_ is held, since a coroutine may
    // resume on another thread than the one that locked (and a suspension under the lock
    // would block every worker that touches this pool).
    const auto executor = worker_executor(co_await asio::this_coro::executor);
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
            waiter = std::make_shared<Waiter>(executor);
            waiter->timer.emplace(waiter->executor);
            if (settings_.query_wait_timeout.count() > 0)
                waiter->timer->expires_at(since + settings_.query_wait_timeout);
            else
                waiter->timer->expires_at(Clock::time_point::max());
            paused_waiters_.push_back(waiter);
        }
        spdlog::debug("pool {}/{}: paused, client waits", database_, user_);
        co_await waiter->timer->async_wait(asio::as_tuple(use_awaitable));
    }
}

Pool::View Pool::view(bool with_servers) {
    View view;
    std::lock_guard lock(mutex_);
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
        info.host_port = &server.cancel_address();
        info.created_at = server.created_at();
        info.released_at = server.released_at();
        info.remote_pid = server.backend_key().process_id;
        info.close_needed = close_needed;
        // What was read at connect: a leased server's socket belongs to the session that
        // holds it (on another worker, which may be moving it: ServerConnection::move_to).
        info.local_addr = server.local_addr();
        info.local_port = server.local_port();
        view.servers.push_back(std::move(info));
    };
    for (auto& server : idle_) {
        const bool used = !settings_.server_check_query.empty() && now - server->released_at() >= settings_.server_check_delay;
        ++(used ? view.used : view.idle);
        if (with_servers) describe(*server, used ? "used" : "idle", false);
    }
    std::uint32_t leased = 0;
    for (auto* server = leased_first_; server; server = server->leased_next_) {
        ++leased;
        ++view.active;
        const bool close_needed = server->leased_generation_ != generation;
        view.close_needed += close_needed;
        if (with_servers) describe(*server, "active", close_needed);
    }
    const auto settled = static_cast<std::uint32_t>(idle_.size()) + leased + closing_;
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
    retire_all(to_close, "RECONNECT");
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
    retire_all(to_close, "KILL");
}

void Pool::pause() {
    std::vector<std::unique_ptr<ServerConnection>> to_close;
    {
        std::lock_guard lock(mutex_);
        paused_ = true;
        ++generation_;
        close_old_idle_locked(to_close);
    }
    retire_all(to_close, "PAUSE");
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
