// The life of one client connection.
#include "proxy/client_session.hpp"

#include <spdlog/spdlog.h>

#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "proxy/client_auth.hpp"
#include "proxy/forwarder.hpp"
#include "proxy/message_io.hpp"
#include "proxy/session_settings.hpp"
#include "proxy/silence_clock.hpp"

namespace pgsluice::proxy {

namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ErrorFields;

// How long a client may take from connecting to finishing authentication (PgBouncer's
// client_login_timeout default).
constexpr Duration kLoginTimeout = std::chrono::seconds(60);
constexpr Duration kErrorWriteTimeout = std::chrono::seconds(5);
constexpr Duration kResetTimeout = std::chrono::seconds(10);
// SSLRequest and GSSENCRequest may each come once before the StartupMessage.
constexpr int kMaxNegotiationPackets = 3;

ErrorFields fatal(const char* code, std::string message, std::string hint = {}) {
    return {"FATAL", code, std::move(message), {}, std::move(hint)};
}

// What a client hears when the shutdown drain reaches it.
ErrorFields shutting_down() { return fatal(sqlstate::kAdminShutdown, "pgsluice is shutting down"); }

// Counts this session in ProxyContext::busy_sessions() while its server is inside a
// transaction or a query: the shutdown drain waits for the count to reach zero.
class BusyMark {
public:
    explicit BusyMark(std::atomic<std::int64_t>& count) : count_(count) {}
    BusyMark(const BusyMark&) = delete;
    BusyMark& operator=(const BusyMark&) = delete;
    ~BusyMark() { set(false); }
    void set(bool busy) {
        if (busy == busy_) return;
        busy_ = busy;
        count_ += busy ? 1 : -1;
    }

private:
    std::atomic<std::int64_t>& count_;
    bool busy_ = false;
};

// How the end of a drain interrupts a session that waits for its client (between
// transactions, or idle in session mode), so that the client hears 57P01 before the exit
// (see ProxyContext::wake_idle_clients). Registered for the session's life.
class IdleWaker {
public:
    IdleWaker(ProxyContext& context, std::uint64_t session, asio::any_io_executor strand,
              const std::shared_ptr<bool>& alive, std::function<void()> on_strand)
        : context_(context), session_(session) {
        // The waker posts to the session's strand and checks there that the session still
        // exists: the session ends on that strand too.
        context_.add_idle_waker(session_, [strand, alive = std::weak_ptr(alive), on_strand = std::move(on_strand)] {
            asio::post(strand, [alive, on_strand] {
                if (alive.lock()) on_strand();
            });
        });
    }
    IdleWaker(const IdleWaker&) = delete;
    IdleWaker& operator=(const IdleWaker&) = delete;
    ~IdleWaker() { context_.remove_idle_waker(session_); }

private:
    ProxyContext& context_;
    std::uint64_t session_;
};

// The session's outcome for the one log line it ends with.
struct Ending {
    std::string reason;
    bool error = false;
};

class ClientSession {
public:
    ClientSession(Socket client, ProxyContext& context, std::string peer)
        : client_(std::move(client)),
          context_(context),
          peer_(std::move(peer)),
          id_(context.next_client_id()),
          busy_(context.busy_sessions()) {}

    awaitable<void> run();

private:
    awaitable<std::variant<protocol::StartupPacket, protocol::StartupError>> read_startup_packet();
    awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
    awaitable<void> forward_cancel(const protocol::CancelRequest& request);
    awaitable<void> send_cancel(const CancelTarget& target);
    struct ForwardStep {
        bool transaction_done = false;  // the server went idle and may be released
        bool server_clean = false;      // the server may be reused by another client
        Ending ending;                  // when the session is over
    };

    awaitable<Ending> serve(const protocol::StartupMessage& startup);
    awaitable<std::optional<ErrorFields>> take_server(ServerLease& lease);
    awaitable<Ending> serve_queries(ServerLease& lease, CancelSlot& cancel_slot);
    awaitable<std::optional<char>> peek_message_type(StreamBuffer& buffer);
    awaitable<ForwardStep> forward(ServerLease& lease, protocol::FrameScanner& client_scanner, StreamBuffer& client_buffer);
    awaitable<void> return_server(ServerLease& lease, bool clean);
    awaitable<void> send_error(const ErrorFields& fields);
    std::string who() const { return "client " + std::to_string(id_) + " " + peer_; }

    Socket client_;
    ProxyContext& context_;
    std::string peer_;
    std::uint64_t id_;
    std::string user_;
    std::string database_;
    std::string reset_query_;
    ClientSettings settings_;
    std::shared_ptr<Pool> pool_;
    config::PoolMode mode_ = config::PoolMode::session;
    CancelTarget cancel_target_;
    BusyMark busy_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for IdleWaker
    bool drain_woken_ = false;  // the end of the drain interrupted the wait for the client
    // What the end of a drain does to this session, on its strand.
    std::function<void()> drain_wake() {
        return [this] {
            drain_woken_ = true;
            boost::system::error_code ignored;
            client_.cancel(ignored);
        };
    }
};

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
    co_await asio::async_read(client_, asio::buffer(length_bytes), use_awaitable);
    const auto length = protocol::read_u32(length_bytes.data());
    if (auto error = protocol::check_startup_length(length)) co_return *error;
    std::vector<std::uint8_t> body(length - 4);
    co_await asio::async_read(client_, asio::buffer(body), use_awaitable);
    co_return protocol::parse_startup_packet({body.data(), body.size()});
}

// Answers SSLRequest / GSSENCRequest with 'N' (TLS comes later), forwards a CancelRequest,
// and returns the StartupMessage, or nothing when the connection is done.
awaitable<std::optional<protocol::StartupMessage>> ClientSession::negotiate_startup() {
    for (int round = 0; round < kMaxNegotiationPackets; ++round) {
        auto packet = co_await read_startup_packet();
        if (auto* error = std::get_if<protocol::StartupError>(&packet)) {
            spdlog::warn("{}: bad startup packet: {}", who(), error->message);
            co_await send_error(fatal(error->sqlstate, error->message));
            co_return std::nullopt;
        }
        auto& startup_packet = std::get<protocol::StartupPacket>(packet);
        if (std::holds_alternative<protocol::SslRequest>(startup_packet) ||
            std::holds_alternative<protocol::GssEncRequest>(startup_packet)) {
            co_await write_all(client_, "N");
            continue;
        }
        if (auto* cancel = std::get_if<protocol::CancelRequest>(&startup_packet)) {
            co_await forward_cancel(*cancel);
            co_return std::nullopt;
        }
        co_return std::get<protocol::StartupMessage>(std::move(startup_packet));
    }
    spdlog::warn("{}: too many SSL/GSS negotiation packets", who());
    co_await send_error(fatal(sqlstate::kProtocolViolation, "too many encryption negotiation requests"));
    co_return std::nullopt;
}

awaitable<void> ClientSession::forward_cancel(const protocol::CancelRequest& request) {
    auto slot = context_.cancels().find({request.process_id, request.secret_key});
    auto target = slot ? slot->get() : std::nullopt;
    if (!target) {
        // As PostgreSQL does: no reply either way, so keys cannot be probed.
        spdlog::info("{}: cancel request for no running query, ignored", who());
        co_return;
    }
    co_await send_cancel(*target);
}

// Opens a connection to the server and sends it a CancelRequest for `target`'s backend.
awaitable<void> ClientSession::send_cancel(const CancelTarget& target) {
    try {
        auto cancel = [&]() -> awaitable<void> {
            Socket server = co_await open_socket(context_.io_executor(), target.server);
            co_await write_all(server, protocol::encode_cancel_request(target.server_key.process_id,
                                                                       target.server_key.secret_key));
        };
        co_await with_deadline(cancel(), std::chrono::seconds(5));
        spdlog::info("{}: cancel request sent to {}", who(), target.server.address());
    } catch (const std::exception& e) {
        spdlog::warn("{}: could not send cancel request to {}: {}", who(), target.server.address(), e.what());
    }
}

awaitable<void> ClientSession::run() {
    const auto started = Clock::now();
    Ending ending;
    std::optional<ErrorFields> error_to_send;  // sent after the catch: no co_await in a handler
    try {
        auto startup = co_await with_deadline(negotiate_startup(), kLoginTimeout);
        if (!startup) co_return;
        ending = co_await serve(*startup);
    } catch (const DeadlineExpired&) {
        ending = {"client_login_timeout: no login within " + std::to_string(kLoginTimeout.count() / 1000) + " s", true};
        error_to_send = fatal(sqlstate::kProtocolViolation, "client_login_timeout");
    } catch (const ProtocolViolation& e) {
        ending = {std::string("protocol violation: ") + e.what(), true};
        error_to_send = fatal(sqlstate::kProtocolViolation, e.what());
    } catch (const boost::system::system_error& e) {
        ending = {"client connection lost: " + e.code().message(), false};
    }
    if (error_to_send) co_await send_error(*error_to_send);
    if (ending.reason.empty()) co_return;
    const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (ending.error)
        spdlog::warn("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    else
        spdlog::info("{}: closing after {:.3f} s: {}", who(), seconds, ending.reason);
    boost::system::error_code ignored;
    client_.shutdown(asio::socket_base::shutdown_both, ignored);
    client_.close(ignored);
}

awaitable<Ending> ClientSession::serve(const protocol::StartupMessage& startup) {
    user_ = startup.user();
    database_ = startup.database();
    settings_ = ClientSettings::from_startup(startup);
    if (!settings_.error().empty()) {
        co_await send_error(fatal(sqlstate::kFeatureNotSupported, settings_.error()));
        co_return Ending{"refused startup: " + settings_.error(), true};
    }
    if (startup.minor > 0 || !startup.protocol_options().empty()) {
        std::string out;
        protocol::append_negotiate_protocol_version(out, 0, startup.protocol_options());
        co_await write_all(client_, out);
    }

    const auto snapshot = context_.snapshot();
    const auto& config = *snapshot->config;
    const auto* credentials = snapshot->credentials.find(user_);
    auto auth = co_await authenticate_client(client_, user_, credentials, config.auth_type);
    if (!auth.ok) {
        co_await send_error(auth.error);
        co_return Ending{"login failed for user \"" + user_ + "\": " + auth.reason, true};
    }
    {
        std::string out;
        protocol::append_authentication_ok(out);
        co_await write_all(client_, out);
    }

    if (context_.draining()) {
        co_await send_error(shutting_down());
        co_return Ending{"refused login: shutting down", false};
    }
    auto database = config.databases.find(database_);
    if (database == config.databases.end()) {
        co_await send_error(fatal(sqlstate::kInvalidCatalogName, "database \"" + database_ + "\" does not exist",
                                  "pgsluice serves only the databases in its config file."));
        co_return Ending{"unknown database \"" + database_ + "\"", true};
    }
    reset_query_ = database->second.pool.server_reset_query;
    pool_ = context_.pool_for(*snapshot, database->second, user_);
    if (auth.client_key) pool_->remember_client_key(*auth.client_key);
    mode_ = pool_->settings().pool_mode;
    cancel_target_.server.host = database->second.host;
    cancel_target_.server.port = database->second.port;

    // Login takes a server even in transaction mode: it proves the database is reachable,
    // checks the client's startup parameters, and tells us what ParameterStatus to report.
    ServerLease lease;
    if (auto error = co_await take_server(lease)) {
        co_await send_error(*error);
        co_return Ending{"login failed for user \"" + user_ + "\": " + error->message, true};
    }
    settings_.adopt_server_spelling(*lease);
    spdlog::info("{}: login ok, user \"{}\" database \"{}\" ({} pooling)", who(), user_, database_,
                 config::to_string(mode_));

    auto cancel_slot = std::make_shared<CancelSlot>();
    const auto key = context_.cancels().add(cancel_slot);
    {
        std::string out;
        for (const auto& [name, value] : lease->parameters()) protocol::append_parameter_status(out, name, value);
        protocol::append_backend_key_data(out, key.process_id, key.secret_key);
        protocol::append_ready_for_query(out, 'I');
        co_await write_all(client_, out);
    }
    if (mode_ != config::PoolMode::session) lease.release_reusable();
    auto ending = co_await serve_queries(lease, *cancel_slot);
    context_.cancels().remove(key);
    co_return ending;
}

// Acquires a server and makes its parameters match the client's. On failure the lease is
// empty and the returned error is what the client is told (FATAL: the session ends).
awaitable<std::optional<ErrorFields>> ClientSession::take_server(ServerLease& lease) {
    std::optional<ErrorFields> error;
    try {
        lease = co_await pool_->acquire();
    } catch (const PoolError& e) {
        error = e.fields;
    }
    if (!error) {
        if (!settings_.defaults_filled()) settings_.fill_defaults(*lease);
        try {
            error = co_await apply_settings(*lease, settings_);
        } catch (const std::exception& e) {
            error = fatal(sqlstate::kConnectionFailure, std::string("server connection lost: ") + e.what());
        }
        if (error) lease.release_closed("applying the client's parameters failed");
    }
    if (error) error->severity = "FATAL";
    co_return error;
}

// The client's queries, transaction by transaction. In session mode the server is held
// throughout; otherwise it is taken at the first message of a transaction and given back at
// the ReadyForQuery that ends it.
awaitable<Ending> ClientSession::serve_queries(ServerLease& lease, CancelSlot& cancel_slot) {
    protocol::FrameScanner client_scanner;
    StreamBuffer client_buffer;
    // For the whole session, so that the end of a drain reaches it wherever it is waiting
    // for its client: between transactions, or (session mode) inside forward().
    IdleWaker waker(context_, id_, client_.get_executor(), alive_, drain_wake());
    while (true) {
        if (!lease) {
            // Idle between transactions: no server, and no buffer unless bytes are pending.
            client_buffer.release_if_empty();
            if (drain_woken_) {  // woken while it was not waiting: the cancel found nothing
                co_await send_error(shutting_down());
                co_return Ending{"shutting down: told while idle", false};
            }
            if (client_buffer.empty()) {
                auto readable = client_.async_wait(Socket::wait_read, asio::as_tuple(use_awaitable));
                std::tuple<boost::system::error_code> waited;
                bool idle_too_long = false;
                if (pool_->settings().client_idle_timeout.count() > 0) {
                    try {
                        waited = co_await with_deadline(std::move(readable), pool_->settings().client_idle_timeout);
                    } catch (const DeadlineExpired&) {
                        idle_too_long = true;
                    }
                } else {
                    waited = co_await std::move(readable);
                }
                if (idle_too_long) {
                    co_await send_error(fatal(sqlstate::kIdleSessionTimeout, "terminating connection due to client_idle_timeout"));
                    co_return Ending{"client_idle_timeout", false};
                }
                if (drain_woken_) {
                    co_await send_error(shutting_down());
                    co_return Ending{"shutting down: told while idle", false};
                }
                if (auto [ec] = waited; ec) co_return Ending{"client connection lost: " + ec.message(), false};
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
            if (auto error = co_await take_server(lease)) {
                co_await send_error(*error);
                co_return Ending{"no server for " + database_ + "/" + user_ + ": " + error->message, true};
            }
        }
        cancel_target_.server_key = lease->backend_key();
        cancel_slot.set(cancel_target_);
        auto step = co_await forward(lease, client_scanner, client_buffer);
        cancel_slot.set(std::nullopt);
        if (step.transaction_done) {
            if (mode_ == config::PoolMode::session)
                co_await return_server(lease, true);  // only when draining: reset and give it back
            else
                lease.release_reusable();
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
        auto [ec, n] = co_await client_.async_read_some(asio::buffer(buffer.free_space(), buffer.free_size()),
                                                        asio::as_tuple(use_awaitable));
        if (ec) co_return std::nullopt;
        buffer.commit(n);
    }
    co_return static_cast<char>(buffer.filled()[0]);
}

awaitable<ClientSession::ForwardStep> ClientSession::forward(ServerLease& lease, protocol::FrameScanner& client_scanner,
                                                             StreamBuffer& client_buffer) {
    using namespace asio::experimental::awaitable_operators;

    struct ClientToServer {
        protocol::ServerState& state;
        SilenceClock& silence;
        BusyMark& busy;
        bool inspects(char) const { return false; }
        protocol::Verdict on_message(const protocol::MessageView& message) {
            if (message.type == protocol::frontend::kTerminate) return protocol::Verdict::stop_before;
            busy.set(true);
            if (silence.enabled()) silence.on_client_message(state, Clock::now());
            state.on_frontend_message(message.type);
            return protocol::Verdict::forward;
        }
    };
    struct ServerToClient {
        ServerConnection& server;
        ClientSettings& settings;
        bool release_when_idle;
        bool statement_mode;
        SilenceClock& silence;
        BusyMark& busy;
        const ProxyContext& context;
        bool opened_transaction = false;  // statement mode: a BEGIN the mode cannot honour
        bool inspects(char type) const {
            return type == protocol::backend::kReadyForQuery || type == protocol::backend::kParameterStatus;
        }
        protocol::Verdict on_message(const protocol::MessageView& message) {
            if (message.type == protocol::backend::kReadyForQuery) {
                if (silence.enabled()) silence.on_ready_for_query(Clock::now());
                server.state().on_ready_for_query(protocol::parse_ready_for_query(message.body).value_or('E'));
                if (server.state().idle()) busy.set(false);
                // Draining: a session-mode client is stopped at its next idle point too.
                if ((release_when_idle || context.draining()) && server.state().idle())
                    return protocol::Verdict::stop_after;
                if (statement_mode && server.state().transaction_status() != 'I') {
                    opened_transaction = true;
                    return protocol::Verdict::stop_after;
                }
            } else if (message.type == protocol::backend::kParameterStatus) {
                if (auto status = protocol::parse_parameter_status(message.body)) {
                    server.set_parameter(status->name, status->value);
                    settings.observe(status->name, status->value);
                }
            }
            return protocol::Verdict::forward;
        }
    };

    const auto pool_settings = pool_->settings();
    SilenceLimits limits{pool_settings.query_timeout, pool_settings.idle_transaction_timeout,
                         mode_ == config::PoolMode::session ? pool_settings.client_idle_timeout : Duration::zero()};
    SilenceClock silence(limits, Clock::now());
    ClientToServer to_server{lease->state(), silence, busy_};
    ServerToClient to_client{*lease, settings_, mode_ != config::PoolMode::session,
                             mode_ == config::PoolMode::statement, silence, busy_, context_};
    protocol::FrameScanner server_scanner;
    StreamBuffer server_buffer;
    bool writing_to_server = false;
    bool writing_to_client = false;
    PumpControl control;
    Socket& server_socket = lease->socket();
    asio::steady_timer watchdog_timer(co_await asio::this_coro::executor);
    Overrun overrun = Overrun::none;

    // Each direction, when it ends, stops the other: the client side by cancelling the
    // server read, the server side (at a transaction's end) by cancelling the client read.
    auto client_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(client_, server_socket, client_scanner, client_buffer, to_server, writing_to_server,
                                    control);
        if (!control.stop) {
            control.stop = true;
            boost::system::error_code ignored;
            server_socket.cancel(ignored);
        }
        watchdog_timer.cancel();
        co_return result;
    };
    auto server_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(server_socket, client_, server_scanner, server_buffer, to_client, writing_to_client,
                                    control);
        if (!control.stop) {
            control.stop = true;
            boost::system::error_code ignored;
            client_.cancel(ignored);
        }
        watchdog_timer.cancel();
        co_return result;
    };
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
                spdlog::info("{}: query_timeout ({} ms) passed, cancelling the query", who(),
                             pool_settings.query_timeout.count());
                asio::co_spawn(co_await asio::this_coro::executor, send_cancel(cancel_target_), asio::detached);
                continue;
            }
            if (check.overrun != Overrun::none) {
                overrun = check.overrun;
                control.stop = true;
                boost::system::error_code ignored;
                client_.cancel(ignored);
                server_socket.cancel(ignored);
                co_return true;
            }
            watchdog_timer.expires_at(check.next_check);
            co_await watchdog_timer.async_wait(asio::as_tuple(use_awaitable));
        }
        co_return false;
    };
    PumpResult client_result;
    PumpResult server_result;
    ForwardStep step;
    while (true) {
        control.stop = false;
        if (silence.enabled())
            std::tie(client_result, server_result, std::ignore) = co_await (client_side() && server_side() && watchdog());
        else
            std::tie(client_result, server_result) = co_await (client_side() && server_side());
        if (overrun != Overrun::none) break;
        // The server may go to another client only if everything it was sent is complete
        // and answered, and we hold no unread bytes of its output.
        step.server_clean = !writing_to_server && client_scanner.at_boundary() && server_buffer.empty() &&
                            server_scanner.at_boundary() && lease->state().idle();
        const bool transaction_ended = server_result.end == PumpEnd::stopped && client_result.end == PumpEnd::interrupted;
        // While the final ReadyForQuery was being written, the client may already have
        // sent its next transaction to this server: then keep serving it here.
        if (transaction_ended && !step.server_clean && !to_client.opened_transaction) continue;
        break;
    }
    if (overrun != Overrun::none) {
        step.server_clean = false;  // closing it rolls back whatever the client left open
        switch (overrun) {
            case Overrun::idle_transaction_timeout:
                step.ending = {"idle_transaction_timeout", true};
                co_await send_error(fatal(sqlstate::kIdleInTransactionSessionTimeout,
                                          "terminating connection due to idle_transaction_timeout",
                                          "The client stayed inside a transaction without sending anything."));
                break;
            case Overrun::client_idle_timeout:
                step.ending = {"client_idle_timeout", false};
                co_await send_error(fatal(sqlstate::kIdleSessionTimeout,
                                          "terminating connection due to client_idle_timeout"));
                step.server_clean = !writing_to_server && client_scanner.at_boundary() && server_buffer.empty() &&
                                    server_scanner.at_boundary() && lease->state().idle();
                break;
            default:
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
    if (server_result.end == PumpEnd::stopped && client_result.end == PumpEnd::interrupted && step.server_clean) {
        step.transaction_done = true;
        co_return step;
    }
    if (client_result.end != PumpEnd::interrupted) {
        switch (client_result.end) {
            case PumpEnd::stopped: step.ending = {"client sent Terminate", false}; break;
            case PumpEnd::source_closed:
                if (drain_woken_) {  // the client did not go: the drain's end interrupted the read
                    step.ending = {"shutting down: told at the end of the drain", false};
                    co_await send_error(shutting_down());
                    break;
                }
                step.ending = {"client disconnected (" + client_result.detail + ")", false};
                break;
            case PumpEnd::sink_failed:
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
            step.ending = {"server connection lost: " + server_result.detail, true};
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly",
                                      "The server may have restarted or been terminated; reconnect."));
            break;
        case PumpEnd::sink_failed: step.ending = {"client connection lost: " + server_result.detail, false}; break;
        case PumpEnd::protocol_error:
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
    if (mode_ == config::PoolMode::session && !reset_query_.empty()) {
        try {
            auto error = co_await with_deadline(lease->run_simple_query(reset_query_), kResetTimeout);
            reset_ok = !error && lease->state().idle();
            lease->forget_applied();
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

awaitable<void> serve_client(Socket client, ProxyContext& context, std::string peer) {
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
    struct Admission {
        ProxyContext& context;
        ~Admission() { context.client_left(); }
    } admission{context};
    ClientSession session(std::move(client), context, std::move(peer));
    co_await session.run();
}

}  // namespace pgsluice::proxy
