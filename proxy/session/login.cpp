// The login phase: the startup packet (and SSL/GSS negotiation, cancel requests), authentication,
// routing to a pool, and the first server, whose parameters the client is told.
#include "proxy/session/client_session.hpp"

namespace pgsluice::proxy {

using namespace session_detail;

void ClientSession::register_client(const protocol::StartupMessage& startup, ClientState state) {
    auto names = std::make_shared<ClientNames>();
    names->user = startup.user();
    names->database = startup.database();
    if (const auto* name = startup.find("application_name")) names->application_name = *name;
    this->names = context_.names_interner().intern(std::move(names));
    set_state(state);
    context_.clients().add(*this);
}

awaitable<std::optional<std::variant<protocol::StartupPacket, protocol::StartupError>>>
ClientSession::read_startup_packet() {
    // The length is read without exceptions: most connections that end here (health checks,
    // port scans, a connect flood) close before they say anything, and an exception for each
    // cost more than the rest of such a connection (unwinding takes a process-wide lock).
    std::array<std::uint8_t, 4> length_bytes;
    std::size_t have = 0;
    while (have < length_bytes.size()) {
        const auto rest = asio::buffer(length_bytes.data() + have, length_bytes.size() - have);
        const auto result = co_await client_.read_some(rest);
        if (const auto& ec = std::get<0>(result)) {
            if (have == 0) co_return std::nullopt;  // closed, reset or cancelled before a byte
            throw boost::system::system_error(ec);
        }
        have += std::get<1>(result);
    }
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
        auto read = co_await read_startup_packet();
        if (!read) {
            // Closed before a packet: quietly when nothing at all was said (a port scan, a
            // flood); after an answered SSLRequest or GSSENCRequest (libpq with
            // sslmode=require meeting an 'N'), one line.
            if (round > 0) spdlog::info("{}: closed after its encryption request was answered", who());
            co_return std::nullopt;
        }
        auto& packet = *read;
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

}  // namespace pgsluice::proxy
