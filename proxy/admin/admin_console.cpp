// The console's session loop and its control commands (PAUSE, RESUME, RECONNECT, KILL,
// WAIT_CLOSE, RELOAD, SHUTDOWN).
#include "proxy/admin/admin_console.hpp"

#include <spdlog/spdlog.h>

#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/result_set.hpp"
#include "protocol/sqlstate.hpp"
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/admin_views.hpp"
#include "proxy/io/message_io.hpp"
#include "version.hpp"

namespace pgsluice::proxy {

namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ErrorFields;

constexpr std::uint32_t kMaxQueryLength = 64 * 1024;
// PAUSE and WAIT_CLOSE wait for sessions to give their servers back; PgBouncer waits forever,
// a runbook is better served by an error it can see.
constexpr Duration kWaitBound = std::chrono::seconds(30);
constexpr Duration kPollInterval = std::chrono::milliseconds(20);

ErrorFields error(const char* code, std::string message, std::string hint = {}) {
    return {"ERROR", code, std::move(message), {}, std::move(hint)};
}

class AdminConsole {
public:
    AdminConsole(Transport& client, ProxyContext& context, const std::string& who, bool show_only)
        : client_(client), context_(context), who_(who), show_only_(show_only) {}
    AdminConsole(const AdminConsole&) = delete;
    AdminConsole& operator=(const AdminConsole&) = delete;

    awaitable<std::string> run();

private:
    // Appends the answer to one command to `out`; nullopt on success.
    awaitable<std::optional<ErrorFields>> execute(const AdminCommand& command, std::string& out);
    std::optional<ErrorFields> check_database(const std::string& database);
    // Polls `done` until it holds or kWaitBound passes; false on timeout.
    template <class Done>
    awaitable<bool> wait_for(Done done);

    Transport& client_;
    ProxyContext& context_;
    const std::string who_;
    const bool show_only_;
    bool shutdown_requested_ = false;
    // Drivers want a key; one issued to no client: a cancel for the console does nothing.
    const protocol::BackendKeyData cancel_key_ = random_cancel_key();
};

awaitable<std::string> AdminConsole::run() {
    {
        std::string out;
        protocol::append_parameter_status(out, "server_version", std::string(kVersion) + "/pgsluice");
        protocol::append_parameter_status(out, "server_encoding", "UTF8");
        protocol::append_parameter_status(out, "client_encoding", "UTF8");
        // What drivers check before they let a connection be used (pgjdbc wants DateStyle ISO).
        protocol::append_parameter_status(out, "DateStyle", "ISO, MDY");
        protocol::append_parameter_status(out, "TimeZone", "UTC");
        protocol::append_parameter_status(out, "integer_datetimes", "on");
        protocol::append_parameter_status(out, "standard_conforming_strings", "on");
        protocol::append_backend_key_data(out, cancel_key_.process_id, cancel_key_.secret_key);
        protocol::append_ready_for_query(out, 'I');
        co_await write_all(client_, out);
    }
    bool skipping_to_sync = false;  // after an extended-protocol message, as PostgreSQL does after an error
    while (true) {
        auto message = co_await read_message(client_, kMaxQueryLength);
        std::string out;
        switch (message.type) {
            case protocol::frontend::kTerminate: co_return "client sent Terminate";
            case protocol::frontend::kQuery: {
                protocol::BodyReader reader(message.bytes());
                auto sql = reader.cstring();
                if (!sql) throw ProtocolViolation("malformed Query message");
                const auto statements = split_admin_statements(*sql);
                if (statements.empty()) protocol::append_empty_query_response(out);
                for (const auto statement : statements) {
                    auto parsed = parse_admin_command(statement);
                    std::optional<ErrorFields> failure;
                    if (auto* syntax = std::get_if<AdminSyntaxError>(&parsed)) {
                        failure = error(sqlstate::kSyntaxError, syntax->message, syntax->hint);
                    } else {
                        const auto& command = std::get<AdminCommand>(parsed);
                        // Exporters poll SHOW every few seconds: only what changes something is worth info.
                        const bool shows = command.verb <= AdminVerb::show_version;
                        spdlog::log(shows ? spdlog::level::debug : spdlog::level::info, "{}: admin command: {}", who_,
                                    std::string(statement));
                        if (show_only_ && !shows)
                            failure = error(sqlstate::kInsufficientPrivilege,
                                            "permission denied: stats users may run only SHOW commands",
                                            "admin.users may run every command; admin.stats_users only SHOW.");
                        else
                            failure = co_await execute(command, out);
                    }
                    if (failure) {
                        protocol::append_error_response(out, *failure);
                        break;  // as PostgreSQL: the rest of a multi-statement query is skipped
                    }
                }
                protocol::append_ready_for_query(out, 'I');
                co_await write_all(client_, out);
                if (shutdown_requested_) {
                    context_.lifecycle().shutdown();
                    co_return "SHUTDOWN";
                }
                break;
            }
            case protocol::frontend::kSync:
                skipping_to_sync = false;
                protocol::append_ready_for_query(out, 'I');
                co_await write_all(client_, out);
                break;
            case protocol::frontend::kFlush: break;
            case 'P': case 'B': case 'D': case 'E': case 'C': case 'F':
                if (!skipping_to_sync) {
                    skipping_to_sync = true;
                    protocol::append_error_response(
                        out, error(sqlstate::kFeatureNotSupported,
                                   "the admin console supports only the simple query protocol",
                                   "Send commands as plain queries, e.g. psql -c 'SHOW POOLS'."));
                    co_await write_all(client_, out);
                }
                break;
            default:
                throw ProtocolViolation(std::string("unexpected message type '") + message.type + "' on the admin console");
        }
    }
}

std::optional<ErrorFields> AdminConsole::check_database(const std::string& database) {
    if (database.empty()) return std::nullopt;
    if (context_.snapshot()->config->databases.count(database)) return std::nullopt;
    return error(sqlstate::kInvalidCatalogName, "no such database: \"" + database + "\"",
                 "SHOW DATABASES lists the databases pgsluice serves.");
}

template <class Done>
awaitable<bool> AdminConsole::wait_for(Done done) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto deadline = Clock::now() + kWaitBound;
    while (!done()) {
        if (Clock::now() >= deadline) co_return false;
        timer.expires_after(kPollInterval);
        co_await timer.async_wait(use_awaitable);
    }
    co_return true;
}

awaitable<std::optional<ErrorFields>> AdminConsole::execute(const AdminCommand& command, std::string& out) {
    auto show = [&](const ResultTable& table) -> std::optional<ErrorFields> {
        table.append_to(out);
        return std::nullopt;
    };
    auto done = [&](const char* tag) -> std::optional<ErrorFields> {
        protocol::append_command_complete(out, tag);
        return std::nullopt;
    };
    const auto& db = command.database;
    switch (command.verb) {
        case AdminVerb::show_help: {
            std::string detail;
            for (const auto& line : admin_command_summary()) detail += "  " + line + "\n";
            protocol::append_notice_response(out, {"NOTICE", sqlstate::kSuccessfulCompletion, "Console usage", detail, {}});
            co_return done("SHOW");
        }
        case AdminVerb::show_pools: co_return show(show_pools(context_));
        case AdminVerb::show_stats: co_return show(show_stats(context_));
        case AdminVerb::show_stats_totals: co_return show(show_stats_totals(context_));
        case AdminVerb::show_stats_averages: co_return show(show_stats_averages(context_));
        case AdminVerb::show_clients: co_return show(show_clients(context_));
        case AdminVerb::show_servers: co_return show(show_servers(context_));
        case AdminVerb::show_databases: co_return show(show_databases(context_));
        case AdminVerb::show_users: co_return show(show_users(context_));
        case AdminVerb::show_config: co_return show(show_config(context_));
        case AdminVerb::show_lists: co_return show(show_lists(context_));
        case AdminVerb::show_version: co_return show(show_version());

        case AdminVerb::pause: {
            if (auto e = check_database(db)) co_return e;
            context_.set_paused(db, true);
            for (auto& pool : context_.pools(db)) pool->pause();
            // As PgBouncer: return once no server is in use (new transactions wait meanwhile).
            const bool quiet = co_await wait_for([&] {
                for (auto& pool : context_.pools(db)) {
                    const auto v = pool->view(false);
                    if (v.active || v.login || v.waiting > v.paused_waiting) return false;
                }
                return true;
            });
            // Servers opened for clients that were already queued before the pause.
            for (auto& pool : context_.pools(db)) pool->close_idle();
            if (!quiet)
                co_return error(sqlstate::kQueryCanceled,
                                "PAUSE: servers still in use after " + std::to_string(kWaitBound.count() / 1000) +
                                    " s; the database stays paused",
                                "Session-mode clients hold their server until they leave; RESUME undoes the pause.");
            co_return done("PAUSE");
        }
        case AdminVerb::resume: {
            if (auto e = check_database(db)) co_return e;
            context_.set_paused(db, false);
            for (auto& pool : context_.pools(db)) pool->resume();
            co_return done("RESUME");
        }
        case AdminVerb::reconnect: {
            if (auto e = check_database(db)) co_return e;
            for (auto& pool : context_.pools(db)) pool->reconnect();
            co_return done("RECONNECT");
        }
        case AdminVerb::kill: {
            if (auto e = check_database(db)) co_return e;
            const ErrorFields why{"FATAL", sqlstate::kAdminShutdown,
                                  "terminating connection due to administrator command (KILL " + db + ")", {}, {}};
            for (auto& pool : context_.pools(db)) pool->kill(why);
            const auto clients = context_.clients().kill(db);
            spdlog::warn("{}: KILL {}: {} client(s) dropped", who_, db, clients);
            co_return done("KILL");
        }
        case AdminVerb::wait_close: {
            if (auto e = check_database(db)) co_return e;
            const bool closed = co_await wait_for([&] {
                for (auto& pool : context_.pools(db))
                    if (pool->view(false).close_needed) return false;
                return true;
            });
            if (!closed)
                co_return error(sqlstate::kQueryCanceled,
                                "WAIT_CLOSE: servers still waiting to be closed after " +
                                    std::to_string(kWaitBound.count() / 1000) + " s");
            co_return done("WAIT_CLOSE");
        }
        case AdminVerb::reload: {
            auto& reload = context_.lifecycle().reload;
            if (!reload) co_return error(sqlstate::kFeatureNotSupported, "reload is not available",
                                         "This build cannot reload its config; restart pgsluice to apply changes.");
            // On the control thread, where SIGHUP's reload runs too: reading and validating the
            // config and rebuilding pools must not stall the clients of this admin session's
            // worker, and two reloads never run at once. (No temporary inside the co_await.)
            std::string report;
            auto on_control = [&reload, &report]() -> awaitable<bool> { co_return reload(report); };
            auto reloading = asio::co_spawn(context_.workers().control(), on_control, use_awaitable);
            const bool reloaded = co_await std::move(reloading);
            if (!reloaded)
                co_return ErrorFields{"ERROR", sqlstate::kConfigFileError, "RELOAD: the new config is not valid; the old one keeps serving", report, {}};
            if (!report.empty())
                protocol::append_notice_response(out, {"NOTICE", sqlstate::kSuccessfulCompletion, "RELOAD", report, {}});
            co_return done("RELOAD");
        }
        case AdminVerb::shutdown: {
            if (!context_.lifecycle().shutdown)
                co_return error(sqlstate::kFeatureNotSupported, "shutdown is not available", "Send SIGTERM instead.");
            shutdown_requested_ = true;
            co_return done("SHUTDOWN");
        }
    }
    co_return error(sqlstate::kInternalError, "unhandled admin command");
}

}  // namespace

bool is_admin_database(std::string_view database) { return database == "pgbouncer" || database == "pgsluice"; }

awaitable<std::string> serve_admin_console(Transport& client, ProxyContext& context, const std::string& who,
                                           bool show_only) {
    AdminConsole console(client, context, who, show_only);
    co_return co_await console.run();
}

}  // namespace pgsluice::proxy
