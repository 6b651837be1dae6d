// The life of one client connection.
#include "proxy/client_session.hpp"

#include <spdlog/spdlog.h>

#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "proxy/admin_console.hpp"
#include "proxy/auth/client_address.hpp"
#include "proxy/tls/tls_context.hpp"
#include "proxy/client_auth.hpp"
#include "proxy/forward/forwarder.hpp"
#include "proxy/handler_memory.hpp"
#include "proxy/message_io.hpp"
#include "proxy/prepared/statement_router.hpp"
#include "proxy/quick_deadlines.hpp"
#include "proxy/session_settings.hpp"
#include "proxy/silence_clock.hpp"
#include "proxy/slab.hpp"
#include "proxy/tls/tls_contexts.hpp"
#include "proxy/tls/tls_policy.hpp"
#include "proxy/traffic.hpp"

namespace pgsluice::proxy {

namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ErrorFields;

constexpr Duration kErrorWriteTimeout = std::chrono::seconds(5);
constexpr Duration kResetTimeout = std::chrono::seconds(10);
// SSLRequest and GSSENCRequest may each come once before the StartupMessage.
constexpr int kMaxNegotiationPackets = 3;

ErrorFields fatal(const char* code, std::string message, std::string hint = {}) {
    return {"FATAL", code, std::move(message), {}, std::move(hint)};
}

// Opens a connection to the server and sends it a CancelRequest for `target`'s backend.
// Everything it uses is a parameter taken by value, so it lives in the coroutine's frame: the
// query_timeout watchdog starts it detached, and the session may have moved on or ended
// before it runs.
awaitable<void> send_cancel(Executor executor, CancelTarget target, std::string who) {
    try {
        auto cancel = [&]() -> awaitable<void> {
            ServerTarget address;
            address.host = target.host;
            address.port = target.port;
            Transport server(co_await open_socket(executor, address));
            co_await write_all(server, protocol::encode_cancel_request(target.server_key.process_id,
                                                                       target.server_key.secret_key));
        };
        co_await with_deadline(cancel(), std::chrono::seconds(5));
        spdlog::info("{}: cancel request sent to {}", who, target.host);
    } catch (const std::exception& e) {
        spdlog::warn("{}: could not send cancel request to {}: {}", who, target.host, e.what());
    }
}

// What a client hears when the shutdown drain reaches it.
ErrorFields shutting_down() { return fatal(sqlstate::kAdminShutdown, "pgsluice is shutting down"); }

// The session's outcome for the one log line it ends with.
struct Ending {
    std::string reason;
    bool error = false;
};

// A logged-in client between transactions holds no coroutine frame and no buffer: only this
// object, kept alive by the one pending wait for its socket to become readable (park()).
// Sessions in session mode keep their coroutine, since they keep their server too.
// The session is its own registry entry (id, peer, user, database, state, cancel slot).
class ClientSession final : public ClientEntry, public Pool::QuickWaiter {
public:
    // The caller has admitted the client against max_client_conn; the destructor gives the
    // place back.
    ClientSession(Transport client, ProxyContext& context, std::string peer)
        : ClientEntry(context.next_client_id(), std::move(peer), client_, client.get_executor()),
          client_(std::move(client)),
          context_(context),
          busy_(context.busy_sessions()) {
        context_.workers().session_arrived(client_.get_executor());
    }
    ~ClientSession() {
        // Out of the registry (SHOW CLIENTS, KILL) on our worker, before the socket goes.
        transport = nullptr;
        context_.clients().remove(*this);
        context_.workers().session_left(client_.get_executor());
        if (pool_) pool_->stats().clients.fetch_sub(1, std::memory_order_relaxed);
        context_.client_left();
    }

    // Startup and login; then serves a session-mode client to its end, or parks the client.
    awaitable<void> start();

private:
    awaitable<std::variant<protocol::StartupPacket, protocol::StartupError>> read_startup_packet();
    awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
    awaitable<void> forward_cancel(const protocol::CancelRequest& request);
    struct ForwardStep {
        bool transaction_done = false;  // the server went idle and may be released
        bool server_clean = false;      // the server may be reused by another client
        Ending ending;                  // when the session is over
    };

    // Authenticates and routes; nothing when the client is logged in, else why it is not.
    // `login_deadline` bounds the authentication exchange (client_login_timeout; none when
    // the limit is off).
    awaitable<std::optional<Ending>> login(const protocol::StartupMessage& startup, ServerLease& lease,
                                           std::optional<Clock::time_point> login_deadline);
    awaitable<std::optional<ErrorFields>> take_server(ServerLease& lease);
    // Transactions until the session ends (an Ending) or, without a server and with nothing
    // pending from the client, until it may park (nothing).
    awaitable<std::optional<Ending>> serve_queries(ServerLease& lease);
    awaitable<std::optional<char>> peek_message_type(StreamBuffer& buffer);
    awaitable<ForwardStep> forward(ServerLease& lease);
    awaitable<void> return_server(ServerLease& lease, bool clean);
    awaitable<void> send_error(const ErrorFields& fields);
    void park();
    bool move_to(asio::io_context& worker);
    // Whether the client closed its side (FIN or reset) while its query waited for a server:
    // what it sent must not run then. A poll with no wait, made only after a wait.
    bool client_left();
    // The quick path (see quick_transaction in the .cpp). Each returns true when it has
    // taken the session on (it waits or parked), false when the coroutine path goes on
    // from traffic_.
    bool quick_allowed() const;
    // Puts the quick path's transaction under its pool's timeouts (the worker's list).
    void watch_deadlines();
    void on_deadline(Clock::time_point now);
    SilenceLimits transaction_limits() const;
    // This client's and `server`'s prepared-statement tables when they are tracked
    // (transaction and statement mode, max_prepared_statements above 0).
    std::optional<prepared::StatementTables> statement_tables(ServerConnection& server);
    bool quick_transaction();
    bool begin_quick_transaction();
    void on_wait_over(WaitOutcome outcome) override;
    bool quick_request();
    bool wait_for_server(bool read_first);
    bool quick_answer();
    bool wait_for_client();
    bool next_transaction_or_park();
    bool read_next_transaction();
    template <bool kFromServer, class Step>
    bool quick_read(Step step, bool read_first);
    void resume_after_read(Transport& transport, const boost::system::error_code& ec);
    template <class Step>
    void later(Step step);
    enum class ReadNow { data, nothing, failed };
    static ReadNow read_now(Transport& from, StreamBuffer& buffer);
    // At the ReadyForQuery that ends a transaction, before its answer is written: gives the
    // server back when nothing else is in flight. The quick path and the coroutine forwarder
    // both come here (ServerToClient::on_stopping).
    bool release_before_answer(std::size_t unread);
    awaitable<std::optional<Ending>> finish_pending_write();
    // `self` keeps the session alive while the coroutine runs (nothing else may own it then).
    awaitable<void> resume(std::shared_ptr<ClientSession> self, boost::system::error_code ec);
    void finish(const Ending& ending);
    std::string who() const { return "client " + std::to_string(id) + " " + peer; }
    std::shared_ptr<ClientSession> self() { return std::static_pointer_cast<ClientSession>(shared_from_this()); }
    void register_client(const protocol::StartupMessage& startup, ClientState state);

    // Every idle client holds one of these: the small members sit together so that no
    // padding is paid for each.
    Transport client_;
    ProxyContext& context_;
    ClientSettings settings_;
    std::shared_ptr<Pool> pool_;
    // The client's named prepared statements, made at its first Parse of one.
    std::unique_ptr<prepared::ClientStatements> statements_;
    // While the client is not parked: the server it holds, buffers and scanners.
    std::unique_ptr<Traffic> traffic_;
    // The memory of the wait the session has pending while parked or on the quick path.
    HandlerMemory wait_memory_;
    // client_idle_timeout while parked; made only when the limit is set.
    std::unique_ptr<asio::steady_timer> idle_timer_;
    BusyMark busy_;
    config::PoolMode mode_ = config::PoolMode::session;
    // serve_queries gave the session to the quick path: resume() must leave it alone.
    bool handed_over_ = false;
    bool parked_ = false;
    bool idle_expired_ = false;
    // The end of a drain cancels whatever this session waits for on its client socket
    // (ClientRegistry::interrupt_all), parked or in session mode inside forward(); the
    // session checks the flag before each wait too, so a wake-up between two waits is not lost.
    bool drain_ended() const { return context_.drain_ended(); }
};

void ClientSession::register_client(const protocol::StartupMessage& startup, ClientState state) {
    auto names = std::make_shared<ClientNames>();
    names->user = startup.user();
    names->database = startup.database();
    if (const auto* name = startup.find("application_name")) names->application_name = *name;
    this->names = context_.names_interner().intern(std::move(names));
    set_state(state);
    context_.clients().add(*this);
}

awaitable<void> ClientSession::send_error(const ErrorFields& fields) {
    std::string out;
    protocol::append_error_response(out, fields);
    try {
        co_await with_deadline(write_all(client_, out), kErrorWriteTimeout);
    } catch (const std::exception&) {
        // The client is gone or not reading; the log line says why we closed.
    }
}

awaitable<std::variant<protocol::StartupPacket, protocol::StartupError>> ClientSession::read_startup_packet() {
    std::array<std::uint8_t, 4> length_bytes;
    co_await client_.read_exactly(asio::buffer(length_bytes));
    const auto length = protocol::read_u32(length_bytes.data());
    if (auto error = protocol::check_startup_length(length)) co_return *error;
    std::vector<std::uint8_t> body(length - 4);
    co_await client_.read_exactly(asio::buffer(body));
    co_return protocol::parse_startup_packet({body.data(), body.size()});
}

// Answers SSLRequest / GSSENCRequest with 'N' (TLS comes later), forwards a CancelRequest,
// and returns the StartupMessage, or nothing when the connection is done.
awaitable<std::optional<protocol::StartupMessage>> ClientSession::negotiate_startup() {
    const auto snapshot = context_.snapshot();
    // client_tls_sslmode, over TCP: a Unix socket is as private as PostgreSQL's own.
    const bool tcp = peer != "unix";
    const auto policy = tls::client_tls_policy(snapshot->config->client_tls.sslmode);
    const auto* facing = snapshot->tls ? snapshot->tls->client_facing() : nullptr;
    bool ssl_requested = false;
    for (int round = 0; round < kMaxNegotiationPackets; ++round) {
        auto packet = co_await read_startup_packet();
        if (auto* error = std::get_if<protocol::StartupError>(&packet)) {
            spdlog::warn("{}: bad startup packet: {}", who(), error->message);
            co_await send_error(fatal(error->sqlstate, error->message));
            co_return std::nullopt;
        }
        auto& startup_packet = std::get<protocol::StartupPacket>(packet);
        if (std::holds_alternative<protocol::SslRequest>(startup_packet)) {
            // One per connection: a second (inside TLS, or after an 'N') is not PostgreSQL's protocol.
            if (std::exchange(ssl_requested, true)) {
                spdlog::warn("{}: a second SSLRequest", who());
                co_await send_error(fatal(sqlstate::kProtocolViolation, "SSLRequest sent twice"));
                co_return std::nullopt;
            }
            if (!tcp || !policy.accept_tls || !facing) {
                co_await write_all(client_, "N");
                continue;
            }
            // Whatever the client sent after its SSLRequest goes into the handshake, never
            // past it as plaintext: the request was read to its last byte, nothing more.
            co_await write_all(client_, "S");
            co_await client_.start_tls_server(facing->context.get());
            continue;
        }
        if (std::holds_alternative<protocol::GssEncRequest>(startup_packet)) {
            co_await write_all(client_, "N");
            continue;
        }
        if (auto* cancel = std::get_if<protocol::CancelRequest>(&startup_packet)) {
            co_await forward_cancel(*cancel);
            co_return std::nullopt;
        }
        if (tcp && policy.require_tls && !client_.is_tls()) {
            spdlog::warn("{}: refused: client_tls_sslmode {} requires TLS", who(),
                         config::to_string(snapshot->config->client_tls.sslmode));
            co_await send_error(fatal(sqlstate::kInvalidAuthorizationSpecification, tls::kPlaintextRefusal,
                                      "client_tls_sslmode requires TLS: connect with sslmode=require or stronger."));
            co_return std::nullopt;
        }
        co_return std::get<protocol::StartupMessage>(std::move(startup_packet));
    }
    spdlog::warn("{}: too many SSL/GSS negotiation packets", who());
    co_await send_error(fatal(sqlstate::kProtocolViolation, "too many encryption negotiation requests"));
    co_return std::nullopt;
}

awaitable<void> ClientSession::forward_cancel(const protocol::CancelRequest& request) {
    auto client = context_.clients().find_by_cancel_key({request.process_id, request.secret_key});
    auto target = client ? client->cancel.get() : std::nullopt;
    if (!target) {
        // As PostgreSQL does: no reply either way, so keys cannot be probed.
        spdlog::info("{}: cancel request for no running query, ignored", who());
        co_return;
    }
    co_await send_cancel(client_.get_executor(), *target, who());
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
        if (!ending && mode_ == config::PoolMode::session) ending = co_await serve_queries(lease);
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
    auto self = this->self();
    if (drain_ended()) {
        // The end of the drain came while this session was not waiting for its client (its
        // wake-up cancelled nothing): tell the client now rather than wait for it.
        asio::co_spawn(client_.get_executor(), resume(self, {}), asio::detached);
        return;
    }
    if (auto* worker = context_.workers().destination(client_.get_executor()); worker && move_to(*worker)) return;
    parked_ = true;
    if (const auto limit = pool_->traffic_limits().client_idle_timeout; limit.count() > 0) {
        if (!idle_timer_) idle_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
        idle_timer_->expires_after(limit);
        idle_timer_->async_wait([self](const boost::system::error_code& ec) {
            // Handlers run on the session's worker: `parked_` says whether the wait is still ours.
            if (ec || !self->parked_) return;
            self->idle_expired_ = true;
            self->client_.cancel();
        });
    }
    client_.async_wait_readable(in_memory(wait_memory_, [self](const boost::system::error_code& ec) {
        self->parked_ = false;
        if (self->idle_timer_) self->idle_timer_->cancel();
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
    } else if (idle_expired_) {
        PoolStats::add(pool_->stats().client_timeouts);
        co_await send_error(fatal(sqlstate::kIdleSessionTimeout, "terminating connection due to client_idle_timeout"));
        ending = Ending{"client_idle_timeout", false};
    } else if (ec) {
        ending = Ending{"client connection lost: " + ec.message(), false};
    } else {
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
        if (handed_over_) {
            handed_over_ = false;  // the quick path's handlers hold the session now
            co_return;
        }
    }
    // A server still held here is in a state nobody checked (the drain's end or an error
    // came mid-transaction): close it.
    if (traffic_) co_await return_server(traffic_->lease, false);
    if (ending)
        finish(*ending);
    else
        park();
}

// ---- the quick path ----
//
// In transaction mode most traffic is request and answer: the client sends a Query (or a
// batch ending in Sync), the server answers up to a ReadyForQuery. For that the session
// needs no coroutine and no second direction: it reads the client, forwards, waits for the
// server's answer, forwards it, and then gives the server back and parks (idle) or waits for
// the client's next statement (inside a transaction), with non-blocking system calls from
// readiness handlers on its worker. Anything else (no idle server, a partial message, COPY,
// a full socket, an error, a timeout to watch, the drain's end) hands the same Traffic state
// to the coroutine path, which goes on from exactly there.

namespace {
// The forwarder's silence clock when no limit is set: never consulted, never changed.
SilenceClock& no_silence_limits() {
    static SilenceClock clock(SilenceLimits{}, Clock::time_point{});
    return clock;
}
}  // namespace

std::optional<prepared::StatementTables> ClientSession::statement_tables(ServerConnection& server) {
    const auto& settings = pool_->settings();
    if (settings.max_prepared_statements == 0 || mode_ == config::PoolMode::session) return std::nullopt;
    if (!statements_) statements_ = std::make_unique<prepared::ClientStatements>(settings.max_client_prepared_statements);
    statements_->set_limit(settings.max_client_prepared_statements);
    return prepared::StatementTables{*statements_, server.statements(settings.max_prepared_statements),
                                     server.expected(), context_.statement_keys()};
}

bool ClientSession::quick_allowed() const { return mode_ != config::PoolMode::session; }

// The limits that watch a transaction (client_idle_timeout watches a parked client instead).
SilenceLimits ClientSession::transaction_limits() const {
    auto limits = pool_->traffic_limits();
    if (mode_ != config::PoolMode::session) limits.client_idle_timeout = Duration::zero();
    return limits;
}

void ClientSession::watch_deadlines() {
    const auto limits = transaction_limits();
    if (!limits.any()) return;
    auto& traffic = *traffic_;
    if (!traffic.silence) traffic.silence.emplace(limits, Clock::now());
    QuickDeadlines::watch(
        traffic.deadline_hook, client_.get_executor(),
        [](void* owner, Clock::time_point now) { static_cast<ClientSession*>(owner)->on_deadline(now); }, this);
}

// The worker's look at a quick-path transaction under a limit. A query past query_timeout is
// cancelled here (PostgreSQL answers 57014 and the transaction goes on); anything else the
// coroutine forwarder finishes, from the same clock: the session's pending read is cancelled
// and it resumes there.
void ClientSession::on_deadline(Clock::time_point now) {
    auto& traffic = *traffic_;
    if (!traffic.lease || !traffic.silence || traffic.overrun_due) return;
    const auto check = traffic.silence->check(traffic.lease->state(), now);
    if (check.overrun == Overrun::none) return;
    if (check.overrun == Overrun::query_timeout) {
        traffic.silence->on_cancel_sent(now);
        PoolStats::add(pool_->stats().client_timeouts);
        spdlog::info("{}: query_timeout ({} ms) passed, cancelling the query", who(),
                     pool_->traffic_limits().query_timeout.count());
        if (auto target = cancel.get())
            asio::co_spawn(client_.get_executor(), send_cancel(client_.get_executor(), *target, who()), asio::detached);
        return;
    }
    traffic.overrun_due = true;
    QuickDeadlines::forget(traffic.deadline_hook);
    client_.cancel();
    traffic.lease->transport().cancel();
}

bool ClientSession::quick_transaction() {
    if (!quick_allowed() || idle_expired_ || drain_ended()) return false;
    traffic_ = TrafficCache::take();
    return read_next_transaction();
}

// The client's next transaction, read now: begun when it is there, else the session parks.
bool ClientSession::read_next_transaction() {
    switch (read_now(client_, traffic_->from_client.buffer)) {
        case ReadNow::nothing: park(); return true;
        case ReadNow::failed: return false;  // the coroutine path reads it again and says so
        case ReadNow::data: return begin_quick_transaction();
    }
    return false;
}

// The client's first bytes of a transaction are in traffic_->from_client: find a server.
bool ClientSession::begin_quick_transaction() {
    auto& traffic = *traffic_;
    auto& buffer = traffic.from_client.buffer;
    if (buffer.filled().size() < protocol::FrameScanner::kHeaderSize ||
        buffer.filled()[0] == static_cast<std::uint8_t>(protocol::frontend::kTerminate))
        return false;
    // As serve_queries: busy first, then the drain check.
    busy_.set(true);
    if (context_.draining()) return false;
    auto got = pool_->acquire_quick(client_.get_executor(), self());
    if (got.queued) {
        set_state(ClientState::waiting);
        return true;  // on_wait_over goes on from here
    }
    traffic.waited = std::move(got.outcome);  // a slot to open a server with: take_server does
    traffic.lease = std::move(got.lease);
    if (!traffic.lease) return false;
    if (!traffic.lease->in_sync_with(settings_.shared_values())) {
        traffic.lease.release_reusable();  // untouched; take_server brings one in line
        return false;
    }
    set_state(ClientState::active, traffic.lease->id());
    cancel.set(*traffic.lease);
    watch_deadlines();
    return quick_request();
}

// The pool's answer to a client that queued on the quick path, on this session's worker: a
// server goes straight to the client's request; anything else (a server to bring in line
// with the client's parameters, a slot to open one with, an error, query_wait_timeout) goes
// to the coroutine path, which takes the outcome from traffic_.
void ClientSession::on_wait_over(WaitOutcome outcome) {
    auto& traffic = *traffic_;  // kept while queued: nothing else runs for a queued session
    if (client_left()) {
        // Whatever the wait brought (a server, a slot, an error) goes back untouched.
        outcome = WaitOutcome();
        busy_.set(false);
        finish(Ending{"client left while waiting for a server", false});
        return;
    }
    traffic.lease = pool_->take_waited_server(outcome, client_.get_executor());
    traffic.waited = std::move(outcome);
    if (traffic.lease) {
        if (traffic.lease->in_sync_with(settings_.shared_values())) {
            set_state(ClientState::active, traffic.lease->id());
            cancel.set(*traffic.lease);
            watch_deadlines();
            if (quick_request()) return;
        } else {
            traffic.settings_due = true;
        }
    }
    asio::co_spawn(client_.get_executor(), resume(self(), {}), asio::detached);
}

// Forwards what the client sent; waits for the answer when it is due.
bool ClientSession::quick_request() {
    auto& traffic = *traffic_;
    auto& from_client = traffic.from_client;
    const bool released = false;
    SilenceClock& silence = traffic.silence ? *traffic.silence : no_silence_limits();
    ClientToServer to_server{traffic.lease->state(), silence, pool_->stats(), traffic.clock, busy_,
                             released, traffic.watch};
    auto statements = statement_tables(*traffic.lease);
    if (statements) {
        to_server.statements = &*statements;
        to_server.plan = &from_client.plan;
    }
    const auto step = forward_now(from_client, traffic.lease->transport(), to_server);
    if (statements) {
        traffic.lease->count_prepared(pool_->stats());
        prepared_statements.store(static_cast<std::uint32_t>(statements_->size()), std::memory_order_relaxed);
    }
    if (!step.written) return false;
    // Whole messages ending in a Query or Sync: the server answers up to a ReadyForQuery
    // without hearing from the client again.
    const bool answer_due = step.scan.status == protocol::FrameScanner::Status::need_more &&
                            from_client.buffer.empty() && from_client.scanner.at_boundary() &&
                            traffic.lease->state().awaiting_ready() > 0 &&
                            (to_server.last_type == protocol::frontend::kQuery ||
                             to_server.last_type == protocol::frontend::kSync);
    if (!answer_due) return false;
    later([](ClientSession& session) { return session.wait_for_server(true); });
    return true;
}

// Runs `step` (a quick-path step: true when it took the session on) once the worker's other
// ready handlers have run, and the coroutine path when it did not. By then the peer has
// often answered (PostgreSQL on another core) or sent its next transaction (a busy client),
// and the read finds it at once: no failed recv, no wait to arm (epoll_ctl), no readiness
// event to handle. Asio's reactor runs a posted handler without a system call.
// Straight to the executor rather than through asio::post, which would wrap the step in a
// work_dispatcher (an outstanding-work count taken and given back for every step).
template <class Step>
void ClientSession::later(Step step) {
    const auto executor = asio::prefer(client_.get_executor(), asio::execution::blocking.never,
                                       asio::execution::allocator(HandlerAllocator<void, HandlerMemory>(wait_memory_)));
    executor.execute([self = self(), step] {
        const bool overrun = self->traffic_ && self->traffic_->overrun_due;
        if (overrun || !step(*self))
            asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
    });
}

// Between transactions on the quick path: the client's next one when it is there already,
// else park.
bool ClientSession::next_transaction_or_park() {
    if (drain_ended() || !quick_allowed()) {
        park();  // tells the client of the drain's end, or wakes for the coroutine path
        return true;
    }
    return read_next_transaction();
}

ClientSession::ReadNow ClientSession::read_now(Transport& from, StreamBuffer& buffer) {
    buffer.allocate();
    if (buffer.free_size() == 0) return ReadNow::failed;  // the forwarder grows it
    const auto read = from.read_now(buffer.free_space(), buffer.free_size());
    if (read.status == Transport::Io::would_block) return ReadNow::nothing;
    if (read.status == Transport::Io::closed) return ReadNow::failed;
    buffer.commit(read.bytes);
    return ReadNow::data;
}

// The quick path's reads. Run later(), a read mostly finds its data: it is tried with a
// recv of its own first, and what it read goes on in the same handler. When nothing is there
// the session waits with Asio's read, which tries once more and then queues without a
// system call (the socket stays registered, edge-triggered), where a wait would re-arm the
// descriptor (epoll_ctl). Its operation lives in Traffic::read_memory; each returns false
// when the buffer is full (the forwarder grows it).

// Inside a transaction, between two of its statements: the session keeps its server and
// waits for the client's next one. (The server says nothing unasked meanwhile; should it
// die, its last words are read with the answer to that next statement.)
bool ClientSession::wait_for_client() {
    return quick_read<false>([](ClientSession& session) { return !session.drain_ended() && session.quick_request(); },
                             true);
}

// `read_first` only from a later() step: the rest of an answer read straight after its
// first part is seldom there yet, and a step that read and ran the next one at once could
// recurse through a long result.
bool ClientSession::wait_for_server(bool read_first) {
    return quick_read<true>([](ClientSession& session) { return session.quick_answer(); }, read_first);
}

// Reads what the server (or the client) sent into its Traffic buffer, then runs `step`; the
// coroutine path goes on when the read failed or `step` did not take the session on. The
// direction is a template argument so that the handler holds no more than the session
// (its operation fits Traffic::read_memory).
template <bool kFromServer, class Step>
bool ClientSession::quick_read(Step, bool read_first) {
    auto& traffic = *traffic_;
    Transport& transport = kFromServer ? traffic.lease->transport() : client_;
    StreamBuffer& buffer = kFromServer ? traffic.from_server.buffer : traffic.from_client.buffer;
    if (read_first) {
        switch (read_now(transport, buffer)) {
            case ReadNow::data: return Step{}(*this);
            case ReadNow::failed: return false;  // the coroutine path reads it again and says so
            case ReadNow::nothing: break;
        }
    }
    buffer.allocate();
    if (buffer.free_size() == 0) return false;
    transport.async_read_some(
        asio::buffer(buffer.free_space(), buffer.free_size()),
        in_memory(traffic.read_memory, [self = self()](const boost::system::error_code& ec, std::size_t n) {
            auto& traffic = *self->traffic_;
            (kFromServer ? traffic.from_server.buffer : traffic.from_client.buffer).commit(n);
            if (!ec) {
                if (Step{}(*self)) return;  // a lambda without captures: made here, not held
                // (The step may have given the server back: no socket of its to name here.)
                asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
                return;
            }
            self->resume_after_read(kFromServer ? traffic.lease->transport() : self->client_, ec);
        }));
    return true;
}

// The coroutine path after a quick-path read of `socket` that ended with `ec`. After EOF or
// an error (a read of 0 bytes), Asio takes the socket for drained and queues the next read
// without trying it, and no readiness event comes again (edge-triggered): the coroutine
// path's read would wait forever. A wait re-arms the descriptor (epoll_ctl), which reports
// the EOF or the error again and lets the next read try; the coroutine path then meets it.
void ClientSession::resume_after_read(Transport& transport, const boost::system::error_code& ec) {
    auto self = this->self();
    if (!ec || ec == asio::error::operation_aborted) {  // data, or a cancel: the read was not tried
        asio::co_spawn(client_.get_executor(), resume(self, {}), asio::detached);
        return;
    }
    transport.async_wait_readable([self](const boost::system::error_code&) {
        asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
    });
}

// What the server sent so far, forwarded; then the server goes back to the pool, or the
// session waits for more of the answer or for the client's next statement.
bool ClientSession::quick_answer() {
    auto& traffic = *traffic_;
    auto& server = *traffic.lease;
    SilenceClock& silence = traffic.silence ? *traffic.silence : no_silence_limits();
    ServerToClient to_client{traffic.from_server.plan, server,  settings_, true,     mode_ == config::PoolMode::statement,
                             silence,                  pool_->stats(), traffic.clock, busy_, context_, traffic.watch};
    auto statements = statement_tables(server);
    if (statements) to_client.statements = &*statements;
    to_client.release_early_context = this;
    to_client.release_early = [](void* context, std::size_t unread) {
        auto& session = *static_cast<ClientSession*>(context);
        if (!session.release_before_answer(unread)) return;
        // The transaction is over: its clock goes now, before a write that may not finish
        // here (the coroutine path would otherwise take it for the next transaction's).
        auto& traffic = *session.traffic_;
        QuickDeadlines::forget(traffic.deadline_hook);
        traffic.silence.reset();
        traffic.overrun_due = false;
    };
    const auto step = forward_now(traffic.from_server, client_, to_client);
    // A write left unfinished goes on in the coroutine path (which has no server when it
    // was given back before the write).
    if (!step.written) return false;
    if (step.scan.status == protocol::FrameScanner::Status::stopped) {
        // Statement mode and a transaction block: the coroutine forwarder refuses it.
        traffic.opened_transaction = to_client.opened_transaction;
        if (traffic.lease) return false;  // the server could not go back: the coroutine path decides
        later([](ClientSession& session) { return session.next_transaction_or_park(); });
        return true;
    }
    if (step.scan.status != protocol::FrameScanner::Status::need_more || to_client.wants_client_data) return false;
    if (server.state().awaiting_ready() > 0) return wait_for_server(false);
    // Every statement answered, the transaction still open: the client speaks next.
    const bool between_statements = traffic.server_drained() && traffic.from_client.buffer.empty();
    if (!between_statements) return false;
    later([](ClientSession& session) { return session.wait_for_client(); });
    return true;
}

// The transaction's last answer is read: the server goes back before the answer is written,
// so a client that reads slowly holds only its own socket. Not when anything else is in
// flight (`unread` bytes follow the ReadyForQuery, or a write to the server is unfinished).
bool ClientSession::release_before_answer(std::size_t unread) {
    auto& traffic = *traffic_;
    // (Nothing owed by the server either: its FIFO of expected answers is empty.)
    if (!traffic.may_release_before_answer(unread, traffic.lease->state()) || !traffic.lease->expected().empty())
        return false;
    traffic.lease->count_prepared(pool_->stats());
    cancel.set(std::nullopt);
    traffic.lease.release_reusable();
    set_state(ClientState::idle);
    return true;
}

awaitable<std::optional<Ending>> ClientSession::finish_pending_write() {
    auto& traffic = *traffic_;
    auto& stats = pool_->stats();
    if (traffic.from_client.plan.pending()) {
        auto& from_client = traffic.from_client;
        if (auto ec = co_await from_client.plan.write(traffic.lease->transport(), from_client.buffer.filled().data())) {
            PoolStats::add(stats.servers_lost);
            traffic.lease.release_closed("server connection lost while writing");
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly"));
            co_return Ending{"server connection lost while writing: " + ec.message(), true};
        }
        PoolStats::add(stats.bytes_received, from_client.plan_sent());
    }
    if (traffic.from_server.plan.pending()) {
        auto& from_server = traffic.from_server;
        if (auto ec = co_await from_server.plan.write(client_, from_server.buffer.filled().data())) {
            traffic.lease.release_closed("client left mid-message");
            if (!traffic.client_write.expired()) co_return Ending{"client connection lost: " + ec.message(), false};
            PoolStats::add(stats.client_timeouts);
            co_return Ending{traffic.client_write.reason(), true};
        }
        PoolStats::add(stats.bytes_sent, from_server.plan_sent());
    }
    co_return std::nullopt;
}

// The one log line a session ends with, and the close.
void ClientSession::finish(const Ending& ending) {
    if (ending.reason.empty()) return;
    const auto seconds = std::chrono::duration<double>(WallClock::now() - connect_time).count();
    if (ending.error)
        spdlog::warn("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    else
        spdlog::info("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    client_.close();
}

awaitable<std::optional<Ending>> ClientSession::login(const protocol::StartupMessage& startup, ServerLease& lease,
                                                      std::optional<Clock::time_point> login_deadline) {
    const std::string user = startup.user();
    const std::string database = startup.database();
    std::string refusal;
    settings_ = ClientSettings::from_startup(startup, refusal);
    if (!refusal.empty()) {
        co_await send_error(fatal(sqlstate::kFeatureNotSupported, refusal));
        co_return Ending{"refused startup: " + refusal, true};
    }
    if (startup.minor > 0 || !startup.protocol_options().empty()) {
        std::string out;
        protocol::append_negotiate_protocol_version(out, 0, startup.protocol_options());
        co_await write_all(client_, out);
    }

    const auto snapshot = context_.snapshot();
    const auto& config = *snapshot->config;
    // What is left of client_login_timeout (at least a moment: zero would mean no limit).
    Duration auth_timeout = Duration::zero();
    if (login_deadline)
        auth_timeout = std::max<Duration>(std::chrono::duration_cast<Duration>(*login_deadline - Clock::now()),
                                          std::chrono::milliseconds(1));
    // On TLS: the certificate this side presented (SCRAM-SHA-256-PLUS) and the client's, if verified.
    const bool tls = client_.is_tls();
    const ClientLogin identity{user,
                               database,
                               client_address_from_peer(peer),
                               tls,
                               tls ? tls::presented_end_point(client_.tls()) : std::nullopt,
                               tls ? tls::verified_client_common_name(client_.tls()) : std::nullopt};
    auto auth = co_await with_deadline(authenticate_client(client_, identity, *snapshot, context_), auth_timeout);
    if (!auth.ok) {
        // Counted on the pool if it exists; a login never creates one.
        auto existing = context_.find_pool(database, user);
        PoolStats::add(existing ? existing->stats().login_failures : context_.unrouted_stats().login_failures);
        co_await send_error(auth.error);
        co_return Ending{"login failed for user \"" + user + "\": " + auth.reason, true};
    }
    {
        std::string out;
        protocol::append_authentication_ok(out);
        co_await write_all(client_, out);
    }

    if (is_admin_database(database)) {
        const auto& admins = config.admin.users;
        const auto& stats_users = config.admin.stats_users;
        const bool admin = std::find(admins.begin(), admins.end(), user) != admins.end();
        const bool show_only = !admin && std::find(stats_users.begin(), stats_users.end(), user) != stats_users.end();
        if (!admin && !show_only) {
            co_await send_error(fatal(sqlstate::kInvalidAuthorizationSpecification,
                                      "user \"" + user + "\" is not allowed to use the admin console (database \"" +
                                          database + "\")",
                                      "Only the users listed under admin.users or admin.stats_users in the config may connect to it."));
            co_return Ending{"admin console refused: user \"" + user + "\" is not in admin.users or admin.stats_users", true};
        }
        register_client(startup, ClientState::active);
        spdlog::info("{}: login ok, user \"{}\" on the admin console{}", who(), user, show_only ? " (SHOW only)" : "");
        auto reason = co_await serve_admin_console(client_, context_, who(), show_only);
        co_return Ending{"admin console: " + reason, false};
    }

    if (context_.draining()) {
        co_await send_error(shutting_down());
        co_return Ending{"refused login: shutting down", false};
    }
    auto route = config.databases.find(database);
    if (route == config.databases.end()) {
        PoolStats::add(context_.unrouted_stats().login_failures);
        co_await send_error(fatal(sqlstate::kInvalidCatalogName, "database \"" + database + "\" does not exist",
                                  "pgsluice serves only the databases in its config file."));
        co_return Ending{"unknown database \"" + database + "\"", true};
    }
    pool_ = context_.pool_for(*snapshot, route->second, user, auth.server_key);
    if (auth.client_key) pool_->remember_client_key(*auth.client_key);
    mode_ = pool_->settings().pool_mode;
    // The pool's `clients` gauge: routed here from now until the session ends (waiting for
    // its first server included, so clients_active = clients - waiting); see ~ClientSession.
    pool_->stats().clients.fetch_add(1, std::memory_order_relaxed);
    register_client(startup, ClientState::waiting);

    // Login takes a server even in transaction mode: it proves the database is reachable,
    // checks the client's startup parameters, and tells us what ParameterStatus to report.
    if (auto error = co_await take_server(lease)) {
        co_await send_error(*error);
        co_return Ending{"login failed for user \"" + user + "\": " + error->message, true};
    }
    settings_.adopt_server_spelling(*lease);
    settings_.share(context_.settings_interner());
    PoolStats::add(pool_->stats().client_logins);
    spdlog::info("{}: login ok, user \"{}\" database \"{}\" ({} pooling)", who(), user, database,
                 config::to_string(mode_));

    // Found again by a CancelRequest through the registry (this session is listed already).
    const auto key = context_.clients().issue_cancel_key(*this);
    {
        std::string out;
        for (const auto& [name, value] : lease->parameters()) protocol::append_parameter_status(out, name, value);
        protocol::append_backend_key_data(out, key.process_id, key.secret_key);
        protocol::append_ready_for_query(out, 'I');
        co_await write_all(client_, out);
    }
    if (mode_ != config::PoolMode::session) {
        lease.release_reusable();
        set_state(ClientState::idle);
    }
    co_return std::nullopt;
}

// Acquires a server and makes its parameters match the client's. On failure the lease is
// empty and the returned error is what the client is told (FATAL: the session ends).
awaitable<std::optional<ErrorFields>> ClientSession::take_server(ServerLease& lease) {
    std::optional<ErrorFields> error;
    set_state(ClientState::waiting);
    try {
        // A server the quick path's wait brought is kept; its parameters are brought in line
        // below. Otherwise whatever else that wait came to is finished by acquire().
        if (!lease) {
            // (No conditional expression inside the co_await: GCC 12 mishandles its temporaries.)
            WaitOutcome waited;
            if (traffic_) waited = std::move(traffic_->waited);
            lease = co_await pool_->acquire(std::move(waited));
        }
    } catch (const PoolError& e) {
        error = e.fields;
    }
    if (!error) {
        if (!settings_.defaults_filled()) settings_.fill_defaults(*lease);
        try {
            error = co_await apply_settings(*lease, settings_);
        } catch (const std::exception& e) {
            PoolStats::add(pool_->stats().servers_lost);
            error = fatal(sqlstate::kConnectionFailure, std::string("server connection lost: ") + e.what());
        }
        if (error) lease.release_closed("applying the client's parameters failed");
    }
    if (!error) set_state(ClientState::active, lease->id());
    if (error) error->severity = "FATAL";
    co_return error;
}

// The client's queries, transaction by transaction. In session mode the server is held
// throughout; otherwise it is taken at the first message of a transaction and given back at
// the ReadyForQuery that ends it.
awaitable<std::optional<Ending>> ClientSession::serve_queries(ServerLease& lease) {
    if (!traffic_) traffic_ = TrafficCache::take();
    auto& client_buffer = traffic_->from_client.buffer;
    // Called when the client has something to say (or has gone): read it before parking again.
    bool woken = true;
    while (true) {
        // A server the quick path's wait brought, with parameters unlike the client's.
        const bool settle = lease && std::exchange(traffic_->settings_due, false);
        if (!lease) {
            // After a transaction, with nothing read ahead, park: the wait completes at once
            // when the client already sent more.
            if (!woken && client_buffer.empty()) co_return std::nullopt;
            woken = false;
            if (drain_ended() && client_buffer.empty()) {  // a wake-up that came between two waits
                co_await send_error(shutting_down());
                co_return Ending{"shutting down: told at the end of the drain", false};
            }
            auto next = co_await peek_message_type(client_buffer);
            if (!next) co_return Ending{"client disconnected", false};
            if (*next == protocol::frontend::kTerminate) co_return Ending{"client sent Terminate", false};
            // Draining: the client is told now, in answer to what it sent, so that it reads
            // the error as its query's result (an error sent while it is idle is easily
            // lost). A session-mode client gets here once the drain released its server at
            // its last idle point (see forward()). Busy first, then the check (both
            // seq_cst): either the drain sees this session busy, or it sees the drain.
            busy_.set(true);
            if (context_.draining()) {
                busy_.set(false);
                co_await send_error(shutting_down());
                co_return Ending{"shutting down: refused a new transaction", false};
            }
        }
        if (!lease || settle) {
            const auto asked = Clock::now();
            if (auto error = co_await take_server(lease)) {
                co_await send_error(*error);
                co_return Ending{"no server for " + pool_->database() + "/" + pool_->user() + ": " + error->message, true};
            }
            // A client that waited may have left meanwhile (a wait of under a millisecond is
            // not worth the system call). Its server goes back untouched.
            if ((settle || Clock::now() - asked > std::chrono::milliseconds(1)) && client_left()) {
                lease.release_reusable();
                busy_.set(false);
                co_return Ending{"client left while waiting for a server", false};
            }
            // A client that had to wait for its server (or have it brought in line) is
            // served by the quick path from here on, as one that found a server idle.
            if (&lease == &traffic_->lease && quick_allowed()) {
                cancel.set(*lease);
                watch_deadlines();
                if (quick_request()) {
                    handed_over_ = true;
                    co_return std::nullopt;
                }
                if (traffic_->write_pending())
                    if (auto ending = co_await finish_pending_write()) co_return ending;
            }
        }
        cancel.set(*lease);
        auto step = co_await forward(lease);
        cancel.set(std::nullopt);
        if (step.transaction_done) {
            traffic_->silence.reset();  // the next transaction's clock starts with it
            traffic_->overrun_due = false;
            if (mode_ == config::PoolMode::session)
                co_await return_server(lease, true);  // only when draining: reset and give it back
            else
                lease.release_reusable();
            set_state(ClientState::idle);
            continue;
        }
        co_await return_server(lease, step.server_clean);
        co_return step.ending;
    }
}

// Reads until the buffer holds a whole message header; returns its type, or nothing at EOF.
awaitable<std::optional<char>> ClientSession::peek_message_type(StreamBuffer& buffer) {
    buffer.allocate();
    while (buffer.filled().size() < protocol::FrameScanner::kHeaderSize) {
        auto [ec, n] = co_await client_.read_some(asio::buffer(buffer.free_space(), buffer.free_size()));
        if (ec) co_return std::nullopt;
        buffer.commit(n);
    }
    co_return static_cast<char>(buffer.filled()[0]);
}

awaitable<ClientSession::ForwardStep> ClientSession::forward(ServerLease& lease) {
    using namespace asio::experimental::awaitable_operators;

    const auto limits = transaction_limits();
    // The quick path's clock when it began the transaction: its timeouts run on.
    if (!traffic_->silence) traffic_->silence.emplace(limits, Clock::now());
    SilenceClock& silence = *traffic_->silence;
    PoolStats& stats = pool_->stats();
    QueryClock& query_clock = traffic_->clock;
    ServerToClient to_client{traffic_->from_server.plan, *lease, settings_, mode_ != config::PoolMode::session,
                             mode_ == config::PoolMode::statement, silence, stats, query_clock, busy_, context_,
                             traffic_->watch};
    ClientToServer to_server{lease->state(), silence, stats, query_clock, busy_, to_client.released, traffic_->watch};
    auto statements = statement_tables(*lease);
    if (statements) {
        to_client.statements = &*statements;
        to_server.statements = &*statements;
        to_server.plan = &traffic_->from_client.plan;
    }
    auto& from_client = traffic_->from_client;
    auto& from_server = traffic_->from_server;
    PumpControl control;
    Transport& server_transport = lease->transport();
    // Only with a timeout set: most transactions need no timer at all.
    std::optional<asio::steady_timer> watchdog_timer;
    if (silence.enabled()) watchdog_timer.emplace(co_await asio::this_coro::executor);
    Overrun overrun = Overrun::none;

    // Each direction, when it ends, stops the other: the client side by cancelling the
    // server read, the server side (at a transaction's end) by cancelling the client read.
    auto client_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(client_, server_transport, from_client, to_server, control);
        if (!control.stop) {
            control.stop = true;
            server_transport.cancel();
        }
        if (watchdog_timer) watchdog_timer->cancel();
        co_return result;
    };
    auto server_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(server_transport, client_, from_server, to_client, control);
        if (!control.stop) {
            control.stop = true;
            client_.cancel();
        }
        if (watchdog_timer) watchdog_timer->cancel();
        co_return result;
    };
    // At the ReadyForQuery that ends the transaction, with nothing else in flight either
    // way, the server goes back before the answer is written to the client: a client that
    // reads slowly keeps its own socket busy, not the server. Both directions stop then.
    // (Not in session mode, where the lease is the session's own, not traffic_'s.)
    struct EarlyRelease {
        ClientSession* session;
        PumpControl* control;
        bool done = false;
    } early{this, &control};
    if (mode_ != config::PoolMode::session) {
        to_client.release_early_context = &early;
        to_client.release_early = [](void* context, std::size_t unread) {
            auto& e = *static_cast<EarlyRelease*>(context);
            if (!e.session->release_before_answer(unread)) return;
            e.done = true;
            // The client side must not touch the server's socket again: stop it now.
            e.control->stop = true;
            e.session->client_.cancel();
        };
    }
    // Runs beside the two directions when a timeout is set. A query past query_timeout is
    // cancelled (PostgreSQL answers 57014 and the session goes on); anything else overdue
    // stops both directions and the caller closes the client. (Returns a value because
    // Asio 1.26's `tuple && void` operator does not compile.)
    auto watchdog = [&]() -> awaitable<bool> {
        while (!control.stop) {
            const auto now = Clock::now();
            const auto check = silence.check(lease->state(), now);
            if (check.overrun == Overrun::query_timeout) {
                silence.on_cancel_sent(now);
                PoolStats::add(stats.client_timeouts);
                spdlog::info("{}: query_timeout ({} ms) passed, cancelling the query", who(),
                             limits.query_timeout.count());
                if (auto target = cancel.get())
                    asio::co_spawn(client_.get_executor(), send_cancel(client_.get_executor(), *target, who()),
                                   asio::detached);
                continue;
            }
            if (check.overrun != Overrun::none) {
                overrun = check.overrun;
                control.stop = true;
                client_.cancel();
                server_transport.cancel();
                co_return true;
            }
            watchdog_timer->expires_at(check.next_check);
            co_await watchdog_timer->async_wait(asio::as_tuple(use_awaitable));
        }
        co_return false;
    };
    PumpResult client_result;
    PumpResult server_result;
    ForwardStep step;
    // The quick path forwarded the ReadyForQuery that opened a transaction in statement mode.
    to_client.opened_transaction = std::exchange(traffic_->opened_transaction, false);
    // The client side stopped without an end of its own: asked to, or holding back a message.
    auto client_paused = [&](PumpResult& result) {
        if (result.end == PumpEnd::stopped && to_server.held_back) result.end = PumpEnd::interrupted;
        return result.end == PumpEnd::interrupted;
    };
    while (!to_client.opened_transaction) {
        control.stop = false;
        to_client.released = false;
        to_server.held_back = false;
        if (silence.enabled())
            std::tie(client_result, server_result, std::ignore) = co_await (client_side() && server_side() && watchdog());
        else
            std::tie(client_result, server_result) = co_await (client_side() && server_side());
        if (overrun != Overrun::none || early.done) break;
        // The server may go to another client only if everything it was sent is complete
        // and answered, and we hold no unread bytes of its output.
        step.server_clean = traffic_->server_drained() && lease->state().idle() && lease->expected().empty();
        if (statements) {
            lease->count_prepared(stats);
            prepared_statements.store(static_cast<std::uint32_t>(statements_->size()), std::memory_order_relaxed);
        }
        const bool transaction_ended = server_result.end == PumpEnd::stopped && client_paused(client_result);
        // While the final ReadyForQuery was being written, the client may already have
        // sent its next transaction to this server: then keep serving it here.
        if (transaction_ended && !step.server_clean && !to_client.opened_transaction) continue;
        break;
    }
    if (traffic_->client_write.expired()) {
        // The client stopped reading (client_write_timeout): part of a message may have gone
        // to it, so it is only closed; its server too, unless it went back before the answer.
        PoolStats::add(stats.client_timeouts);
        step.server_clean = early.done;
        step.ending = {traffic_->client_write.reason(), true};
        co_return step;
    }
    if (early.done) {
        // The server is back in the pool; what is left is the client's side of things.
        step.server_clean = true;
        if (server_result.end == PumpEnd::sink_failed)
            step.ending = {"client connection lost: " + server_result.detail, false};
        else
            step.transaction_done = true;
        co_return step;
    }
    if (overrun != Overrun::none) {
        step.server_clean = false;  // closing it rolls back whatever the client left open
        switch (overrun) {
            case Overrun::idle_transaction_timeout:
                PoolStats::add(stats.client_timeouts);
                step.ending = {"idle_transaction_timeout", true};
                co_await send_error(fatal(sqlstate::kIdleInTransactionSessionTimeout,
                                          "terminating connection due to idle_transaction_timeout",
                                          "The client stayed inside a transaction without sending anything."));
                break;
            case Overrun::client_idle_timeout:
                PoolStats::add(stats.client_timeouts);
                step.ending = {"client_idle_timeout", false};
                co_await send_error(fatal(sqlstate::kIdleSessionTimeout,
                                          "terminating connection due to client_idle_timeout"));
                step.server_clean = traffic_->server_drained() && lease->state().idle();
                break;
            default:
                PoolStats::add(stats.servers_lost);
                step.ending = {"query_timeout: the server did not answer a cancel", true};
                co_await send_error(fatal(sqlstate::kConnectionFailure,
                                          "query_timeout: the server did not answer a cancel request in time",
                                          "The server connection was closed; reconnect."));
                break;
        }
        co_return step;
    }
    if (to_client.opened_transaction) {
        // Statement mode hands the server back after every statement, so a transaction
        // block cannot span statements: refuse it, as PgBouncer does, and drop the server
        // rather than leave its open transaction to the next client.
        step.server_clean = false;
        step.ending = {"transaction block in statement pooling mode", true};
        co_await send_error(fatal(sqlstate::kInvalidTransactionState,
                                  "transaction blocks not allowed in statement pooling mode",
                                  "Use pool_mode transaction or session for this database or user."));
        co_return step;
    }
    if (server_result.end == PumpEnd::stopped && client_paused(client_result) && step.server_clean) {
        step.transaction_done = true;
        co_return step;
    }
    if (client_result.end != PumpEnd::interrupted) {
        switch (client_result.end) {
            case PumpEnd::stopped: step.ending = {"client sent Terminate", false}; break;
            case PumpEnd::source_closed:
                if (drain_ended()) {  // the client did not go: the drain's end interrupted the read
                    step.ending = {"shutting down: told at the end of the drain", false};
                    co_await send_error(shutting_down());
                    break;
                }
                step.ending = {"client disconnected (" + client_result.detail + ")", false};
                break;
            case PumpEnd::sink_failed:
                PoolStats::add(stats.servers_lost);
                step.server_clean = false;
                step.ending = {"server connection lost while writing: " + client_result.detail, true};
                co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly"));
                break;
            case PumpEnd::protocol_error:
                step.ending = {"client broke the protocol: " + client_result.detail, true};
                co_await send_error(fatal(sqlstate::kProtocolViolation, client_result.detail));
                break;
            case PumpEnd::interrupted: break;
        }
        co_return step;
    }
    step.server_clean = false;
    switch (server_result.end) {
        case PumpEnd::stopped:
        case PumpEnd::interrupted:
        case PumpEnd::source_closed:
            PoolStats::add(stats.servers_lost);
            step.ending = {"server connection lost: " + server_result.detail, true};
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly",
                                      "The server may have restarted or been terminated; reconnect."));
            break;
        case PumpEnd::sink_failed: step.ending = {"client connection lost: " + server_result.detail, false}; break;
        case PumpEnd::protocol_error:
            PoolStats::add(stats.servers_lost);
            step.ending = {"server broke the protocol: " + server_result.detail, true};
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server sent invalid data"));
            break;
    }
    co_return step;
}

// The session is over: reset the server and give it back (session mode runs the reset
// query; transaction mode needs none), or close it when it is in any state the next client
// must not inherit.
awaitable<void> ClientSession::return_server(ServerLease& lease, bool clean) {
    if (!lease) co_return;
    if (!clean) {
        lease.release_closed("client left mid-transaction or mid-message");
        co_return;
    }
    bool reset_ok = true;
    const auto& reset_query = pool_->settings().server_reset_query;
    if (mode_ == config::PoolMode::session && !reset_query.empty()) {
        try {
            auto error = co_await with_deadline(lease->run_simple_query(reset_query), kResetTimeout);
            reset_ok = !error && lease->state().idle();
            // DISCARD ALL (the default) undoes whatever the client did to the session;
            // another reset query may not, so only it clears a restore that is due.
            if (iequals(reset_query, "DISCARD ALL"))
                lease->restored();
            else
                lease->forget_all_applied();
        } catch (const std::exception&) {
            reset_ok = false;
        }
    }
    if (reset_ok)
        lease.release_reusable();
    else
        lease.release_closed("server reset query failed");
}

}  // namespace

awaitable<void> serve_client(Socket socket, ProxyContext& context, std::string peer) {
    Transport client(std::move(socket));
    const auto max_clients = context.snapshot()->config->limits.max_client_conn;
    if (!context.admit_client(max_clients)) {
        spdlog::warn("client {}: refused, max_client_conn ({}) reached", peer, max_clients);
        std::string out;
        protocol::append_error_response(out, fatal(sqlstate::kTooManyConnections,
                                                   "no more connections allowed (max_client_conn)"));
        try {
            co_await with_deadline(write_all(client, out), kErrorWriteTimeout);
        } catch (const std::exception&) {
        }
        co_return;
    }
    // From a slab: every idle client holds its session for as long as it stays connected.
    auto session = std::allocate_shared<ClientSession>(SlabAllocator<ClientSession>(), std::move(client), context,
                                                       std::move(peer));
    co_await session->start();
}

}  // namespace pgsluice::proxy
