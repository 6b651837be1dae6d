// A session from its start to its end: login, then parked (idle) between transactions, woken
// by its client, moved between workers, resumed on the coroutine path, and closed.
#include "proxy/session/client_session.hpp"

#include "proxy/observe/log_rate_limit.hpp"

namespace pgsluice::proxy {

using namespace session_detail;

awaitable<void> ClientSession::send_error(const ErrorFields& fields) {
    std::string out;
    protocol::append_error_response(out, fields);
    try {
        co_await with_deadline(write_all(client_, out), kErrorWriteTimeout);
    } catch (const std::exception&) {
        // The client is gone or not reading; the log line says why we closed.
    }
}

awaitable<void> ClientSession::start() {
    std::optional<Ending> ending;
    std::optional<ErrorFields> error_to_send;  // sent after the catch: no co_await in a handler
    ServerLease lease;                         // session mode: held to the end
    std::optional<protocol::StartupMessage> startup;
    // client_login_timeout: from the connection to the end of authentication. A client
    // silent after connecting, or stopping in the middle of SCRAM, holds a max_client_conn
    // place only that long.
    const auto login_timeout = context_.snapshot()->config->limits.client_login_timeout;
    std::optional<Clock::time_point> login_deadline;
    if (login_timeout.count() > 0) login_deadline = Clock::now() + login_timeout;
    try {
        startup = co_await with_deadline(negotiate_startup(), login_timeout);
        if (!startup) co_return;
        ending = co_await login(*startup, lease, login_deadline);
        startup.reset();
        if (!ending && mode_ == config::PoolMode::session) {
            phase_ = Phase::coroutine;  // session mode keeps its coroutine and its server
            ending = co_await serve_queries(lease);
        }
    } catch (const DeadlineExpired&) {
        ending = {"client_login_timeout: no login within " + std::to_string(login_timeout.count()) + " ms", true};
        error_to_send = fatal(sqlstate::kProtocolViolation, "client_login_timeout");
    } catch (const TlsError& e) {
        // Nothing can be said to the client: the channel for it is what failed.
        ending = {std::string("TLS handshake failed: ") + e.what(), true};
    } catch (const ProtocolViolation& e) {
        ending = {std::string("protocol violation: ") + e.what(), true};
        error_to_send = fatal(sqlstate::kProtocolViolation, e.what());
    } catch (const boost::system::system_error& e) {
        ending = {"client connection lost: " + e.code().message(), false};
    } catch (const std::exception& e) {  // e.g. no random bytes for a nonce: end this client only
        ending = {std::string("internal error: ") + e.what(), true};
        error_to_send = fatal(sqlstate::kInternalError, e.what());
    }
    if (error_to_send) co_await send_error(*error_to_send);
    if (ending) {
        co_await return_server(lease, false);
        finish(*ending);
    } else {
        park();
    }
}

// Waits for the client's next transaction without a coroutine: the handler holds the
// session. The idle timer, when set, cancels the wait.
void ClientSession::park() {
    // Nothing pending: serve_queries parks only with an empty buffer and no server.
    TrafficCache::recycle(std::move(traffic_));
    client_.release_tls_buffers();  // an idle client holds none of OpenSSL's buffers either
    auto self = this->self();
    if (drain_ended()) {
        // The end of the drain came while this session was not waiting for its client (its
        // wake-up cancelled nothing): tell the client now rather than wait for it.
        asio::co_spawn(client_.get_executor(), resume(self, {}), asio::detached);
        return;
    }
    if (auto* worker = context_.workers().destination(client_.get_executor()); worker && move_to(*worker)) return;
    phase_ = Phase::idle;
    if (const auto limit = pool_->traffic_limits().client_idle_timeout; limit.count() > 0) {
        if (!idle_timer_) idle_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
        idle_timer_->expires_after(limit);
        idle_timer_->async_wait([self](const boost::system::error_code& ec) {
            // Handlers run on the session's worker: the phase says whether the wait is still ours.
            if (ec || self->phase_ != Phase::idle) return;
            self->phase_ = Phase::idle_expired;
            self->client_.cancel();
        });
    }
    client_.async_wait_readable(in_memory(wait_memory_, [self](const boost::system::error_code& ec) {
        if (self->phase_ == Phase::idle) self->phase_ = Phase::quick;
        if (self->idle_timer_) self->idle_timer_->cancel();
        // Busy from here until the next cold park (warm parks included): the transactions
        // reuse OpenSSL's buffers. (Session mode never parks: it releases them all along.)
        if (!ec) self->client_.keep_tls_buffers();
        if (!ec && self->quick_transaction()) return;
        auto executor = self->client_.get_executor();
        asio::co_spawn(executor, self->resume(self, ec), asio::detached);
    }));
}

bool ClientSession::client_left() { return client_.peer_hung_up(); }

// Moves the session, between two transactions, to `worker` (Workers::destination): its
// socket leaves this worker's epoll set for that one's, and it parks there. Nothing is
// pending on the socket or the idle timer here, so releasing them loses nothing. False when
// the socket could not move: the session parks where it is.
bool ClientSession::move_to(asio::io_context& worker) {
    asio::generic::stream_protocol protocol{AF_INET, SOCK_STREAM};
    if (!client_.local_protocol(protocol)) return false;
    const auto from = client_.get_executor();
    if (!client_.move_to(worker.get_executor(), protocol)) return false;
    // First the socket, then the registry: a KILL that finds the session on `worker` finds
    // its socket there too (ClientRegistry::on_worker).
    idle_timer_.reset();  // made again on `worker` when the limit is set
    context_.workers().session_moved(from, client_.get_executor());
    context_.clients().moved(*this, client_.get_executor());
    asio::post(client_.get_executor(), [self = self()] { self->park(); });
    return true;
}

awaitable<void> ClientSession::resume([[maybe_unused]] std::shared_ptr<ClientSession> self,
                                      boost::system::error_code ec) {
    std::optional<Ending> ending;
    if (drain_ended()) {
        co_await send_error(shutting_down());
        ending = Ending{"shutting down: told while idle", false};
    } else if (phase_ == Phase::idle_expired) {
        PoolStats::add(pool_->stats().client_timeouts);
        co_await send_error(fatal(sqlstate::kIdleSessionTimeout, "terminating connection due to client_idle_timeout"));
        ending = Ending{"client_idle_timeout", false};
    } else if (ec) {
        ending = Ending{"client connection lost: " + ec.message(), false};
    } else {
        phase_ = Phase::coroutine;
        std::optional<ErrorFields> error_to_send;
        if (traffic_) QuickDeadlines::forget(traffic_->deadline_hook);
        if (!traffic_) traffic_ = TrafficCache::take();
        ServerLease& lease = traffic_->lease;  // held already when the quick path handed over
        try {
            if (traffic_->write_pending()) ending = co_await finish_pending_write();
            if (!ending) ending = co_await serve_queries(lease);
        } catch (const ProtocolViolation& e) {
            ending = {std::string("protocol violation: ") + e.what(), true};
            error_to_send = fatal(sqlstate::kProtocolViolation, e.what());
        } catch (const boost::system::system_error& e) {
            // Most likely the client's own connection; should it be a server's, the client
            // still hears why it is closed (a gone client misses nothing).
            ending = {"connection lost: " + e.code().message(), false};
            error_to_send = fatal(sqlstate::kConnectionFailure, "connection lost: " + e.code().message());
        }
        if (error_to_send) co_await send_error(*error_to_send);
        if (phase_ == Phase::quick) co_return;  // serve_queries handed the session to the quick path
    }
    // A server still held here is in a state nobody checked (the drain's end or an error
    // came mid-transaction): close it.
    if (traffic_) co_await return_server(traffic_->lease, false);
    if (ending)
        finish(*ending);
    else
        park();
}

// The one log line a session ends with, and the close.
void ClientSession::finish(const Ending& ending) {
    phase_ = Phase::ended;
    if (ending.reason.empty()) return;
    const auto seconds = std::chrono::duration<double>(WallClock::now() - connect_time).count();
    if (ending.error)
        spdlog::warn("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    else
        spdlog::info("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    client_.close();
}

awaitable<void> serve_client(Socket socket, ProxyContext& context, std::string peer) {
    Transport client(std::move(socket));
    // A connection closed before it said anything ends here, neither admitted nor logged: a
    // connect flood costs a peek per connection, not a session.
    if (client.closed_unheard()) co_return;
    const auto max_clients = context.snapshot()->config->limits.max_client_conn;
    if (!context.admit_client(max_clients)) {
        // During a connect flood this runs thousands of times a second: one log line a second
        // (with the count held back), and the error written at once, without a coroutine and
        // a timer for it (a fresh socket has room for a hundred bytes; if not, it goes unsaid).
        static SharedLogRateLimit refusals_log(std::chrono::seconds(1));
        if (auto held_back = refusals_log.allow(Clock::now()); held_back && *held_back > 0)
            spdlog::warn("client {}: refused, max_client_conn ({}) reached ({} more refused since the last line)",
                         peer, max_clients, *held_back);
        else if (held_back)
            spdlog::warn("client {}: refused, max_client_conn ({}) reached", peer, max_clients);
        std::string out;
        protocol::append_error_response(out, fatal(sqlstate::kTooManyConnections,
                                                   "no more connections allowed (max_client_conn)"));
        client.write_now(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
        co_return;
    }
    // From a slab: every idle client holds its session for as long as it stays connected.
    auto session = std::allocate_shared<ClientSession>(SlabAllocator<ClientSession>(), std::move(client), context,
                                                       std::move(peer));
    co_await session->start();
}

}  // namespace pgsluice::proxy
