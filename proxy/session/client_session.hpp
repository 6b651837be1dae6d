// The session of one client connection, split by phase over the files of this folder:
//   login.cpp            startup packet, TLS and GSS negotiation, cancel requests, authentication,
//                        routing to a pool, the first server
//   lifecycle.cpp        start, park (idle), moving to another worker, resume, the end
//   quick_path.cpp       transactions served by readiness handlers, without a coroutine
//   coroutine_path.cpp   everything else: session mode, waits, COPY, timeouts, errors, the drain
// Whatever way it ends, the session closes the client with a reason and never hands a server
// that is not idle to the next client.
#pragma once

#include <spdlog/spdlog.h>


#include <spdlog/spdlog.h>

#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "proxy/admin/admin_console.hpp"
#include "proxy/auth/client_address.hpp"
#include "proxy/tls/tls_context.hpp"
#include "proxy/auth/client_auth.hpp"
#include "proxy/forward/forwarder.hpp"
#include "proxy/io/handler_memory.hpp"
#include "proxy/io/message_io.hpp"
#include "proxy/prepared/statement_router.hpp"
#include "proxy/runtime/quick_deadlines.hpp"
#include "proxy/backend/session_settings.hpp"
#include "proxy/session/silence_clock.hpp"
#include "proxy/runtime/slab.hpp"
#include "proxy/tls/tls_contexts.hpp"
#include "proxy/tls/tls_policy.hpp"
#include "proxy/session/traffic.hpp"
#include "proxy/session/send_cancel.hpp"
#include "proxy/session/serve_client.hpp"

namespace pgsluice::proxy {

namespace session_detail {

namespace sqlstate = protocol::sqlstate;
using protocol::ErrorFields;

inline constexpr Duration kErrorWriteTimeout = std::chrono::seconds(5);
inline constexpr Duration kResetTimeout = std::chrono::seconds(10);
// SSLRequest and GSSENCRequest may each come once before the StartupMessage.
inline constexpr int kMaxNegotiationPackets = 3;

inline ErrorFields fatal(const char* code, std::string message, std::string hint = {}) {
    return {"FATAL", code, std::move(message), {}, std::move(hint)};
}

// What a client hears when the shutdown drain reaches it.
inline ErrorFields shutting_down() { return fatal(sqlstate::kAdminShutdown, "pgsluice is shutting down"); }

// The session's outcome for the one log line it ends with.
struct Ending {
    std::string reason;
    bool error = false;
};

}  // namespace session_detail

// A logged-in client between transactions holds no coroutine frame and no buffer: only this
// object, kept alive by the one pending wait for its socket to become readable (park()).
// Sessions in session mode keep their coroutine, since they keep their server too.
// The session is its own registry entry (id, peer, user, database, state, cancel slot).
class ClientSession final : public ClientEntry, public Pool::QuickWaiter {
public:
    // Where the session is in its life: one phase at a time, each with its file. Its
    // handlers and its coroutine run on its worker only, so nothing else reads or writes it.
    enum class Phase : std::uint8_t {
        login,         // startup packet, TLS, authentication, the first server (login.cpp)
        idle,          // parked between transactions: no buffer, no server, one wait on the client (lifecycle.cpp)
        idle_warm,     // just after a transaction: no server, its buffers kept, one read on the client (quick_path.cpp)
        idle_expired,  // client_idle_timeout passed while parked: resume() tells the client and ends
        waiting,       // queued in its pool on the quick path (the coroutine path waits in take_server)
        quick,         // a transaction on the quick path's handlers (quick_path.cpp)
        coroutine,     // on the coroutine path: session mode, and all the quick path hands over (coroutine_path.cpp)
        ended,         // closed, its one log line written
    };

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
    // Nothing when the client closed before its first byte.
    awaitable<std::optional<std::variant<protocol::StartupPacket, protocol::StartupError>>> read_startup_packet();
    awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
    awaitable<void> forward_cancel(const protocol::CancelRequest& request);
    struct ForwardStep {
        bool transaction_done = false;  // the server went idle and may be released
        bool server_clean = false;      // the server may be reused by another client
        session_detail::Ending ending;  // when the session is over
    };

    // Authenticates and routes; nothing when the client is logged in, else why it is not.
    // `login_deadline` bounds the authentication exchange (client_login_timeout; none when
    // the limit is off).
    awaitable<std::optional<session_detail::Ending>> login(const protocol::StartupMessage& startup,
                                                           ServerLease& lease,
                                                           std::optional<Clock::time_point> login_deadline);
    awaitable<std::optional<protocol::ErrorFields>> take_server(ServerLease& lease);
    // Transactions until the session ends (an Ending) or, without a server and with nothing
    // pending from the client, until it may park (nothing).
    awaitable<std::optional<session_detail::Ending>> serve_queries(ServerLease& lease);
    awaitable<std::optional<char>> peek_message_type(StreamBuffer& buffer);
    awaitable<ForwardStep> forward(ServerLease& lease);
    awaitable<void> return_server(ServerLease& lease, bool clean);
    awaitable<void> send_error(const protocol::ErrorFields& fields);
    void park();
    bool move_to(asio::io_context& worker);
    // Whether the client closed its side (FIN or reset) while its query waited for a server:
    // what it sent must not run then. A poll with no wait, made only after a wait in which
    // the client socket stirred (watch_client_while_waiting).
    bool client_left();
    void watch_client_while_waiting();
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
    bool wait_for_server();
    bool quick_answer();
    bool wait_for_client();
    bool next_transaction_or_park();
    bool park_warm();
    void on_warm_read(const boost::system::error_code& ec, std::size_t bytes);
    void cool_down(Clock::time_point now);
    bool read_next_transaction();
    template <bool kFromServer, class Step>
    bool quick_read(Step step);
    void resume_after_read(Transport& transport, const boost::system::error_code& ec);
    template <class Step>
    void later(Step step);
    enum class ReadNow { data, nothing, failed };
    static ReadNow read_now(Transport& from, StreamBuffer& buffer);
    // At the ReadyForQuery that ends a transaction, before its answer is written: gives the
    // server back when nothing else is in flight. The quick path and the coroutine forwarder
    // both come here (ServerToClient::on_stopping).
    bool release_before_answer(std::size_t unread);
    awaitable<std::optional<session_detail::Ending>> finish_pending_write();
    // `self` keeps the session alive while the coroutine runs (nothing else may own it then).
    awaitable<void> resume(std::shared_ptr<ClientSession> self, boost::system::error_code ec);
    void finish(const session_detail::Ending& ending);
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
    Phase phase_ = Phase::login;
    // Something happened on the client socket while its query waited for a server (see
    // watch_client_while_waiting).
    bool client_stirred_ = false;
    // The end of a drain cancels whatever this session waits for on its client socket
    // (ClientRegistry::interrupt_all), parked or in session mode inside forward(); the
    // session checks the flag before each wait too, so a wake-up between two waits is not lost.
    bool drain_ended() const { return context_.drain_ended(); }
};

}  // namespace pgsluice::proxy
