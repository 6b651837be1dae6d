// Backend probe: a small io_context, one ServerConnection per backend server, three numbers.
#include "proxy/backend/backend_probe.hpp"

#include "proxy/backend/credentials.hpp"
#include "proxy/backend/server_connection.hpp"
#include "proxy/tls/tls_contexts.hpp"

namespace pgsluice::proxy {

namespace {

// Logs in as a pool for `database` would; nullopt when no configured password can be used.
std::optional<ServerTarget> login_for(const config::Config& config, const Credentials& credentials,
                                      const config::Database& database) {
    ServerTarget target;
    target.host = database.host;
    target.port = database.port;
    target.dbname = database.dbname.empty() ? database.name : database.dbname;
    if (database.user) {
        target.user = *database.user;
        if (database.password && database.password->kind == config::Secret::Kind::plain)
            target.password = database.password->value;
        else if (const auto* forced = credentials.find(*database.user); forced && forced->plaintext)
            target.password = forced->plaintext;
        else
            return std::nullopt;
        return target;
    }
    for (const auto& [name, user] : config.users) {
        if (const auto* c = credentials.find(name); c && c->plaintext) {
            target.user = name;
            target.password = c->plaintext;
            return target;
        }
    }
    return std::nullopt;
}

std::uint64_t number(const std::string& text) {
    try {
        return std::stoull(text);
    } catch (const std::exception&) {
        return 0;
    }
}

awaitable<void> probe(Executor executor, ServerTarget target, Duration timeout, BackendCapacity& out) {
    try {
        auto server = co_await ServerConnection::connect(executor, target, timeout, 0);
        std::vector<std::string> row;
        auto error = co_await with_deadline(
            server->run_simple_query("select current_setting('max_connections'), "
                                     "current_setting('superuser_reserved_connections'), "
                                     "(select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                     "and pid <> pg_backend_pid())",
                                     &row),
            timeout);
        server->close();
        if (error) {
            out.error = "query failed: " + error->message;
        } else if (row.size() != 3) {
            out.error = "unexpected answer to the capacity query";
        } else {
            out.max_connections = number(row[0]);
            out.superuser_reserved_connections = number(row[1]);
            out.other_connections = number(row[2]);
        }
    } catch (const ServerLoginError& e) {
        out.error = e.fields.message + " (logging in as " + target.user + " to " + target.dbname + ")";
    } catch (const std::exception& e) {
        out.error = std::string("server ") + target.address() + " failed: " + e.what();
    }
}

}  // namespace

std::vector<BackendCapacity> probe_backends(const config::Config& config) {
    const Credentials credentials(config);
    // server_tls as the pools use it (a file that does not load is check's own error; the
    // probe then goes without TLS and PostgreSQL says whether that is allowed).
    const auto tls = tls::TlsContexts::load(config).contexts;
    asio::io_context io;
    std::vector<BackendCapacity> results;
    results.reserve(config.databases.size());  // stable addresses for the coroutines below
    for (const auto& [name, database] : config.databases) {
        bool seen = false;
        for (const auto& r : results) seen |= r.host == database.host && r.port == database.port;
        if (seen) continue;
        BackendCapacity capacity;
        capacity.host = database.host;
        capacity.port = database.port;
        results.push_back(std::move(capacity));
        auto target = login_for(config, credentials, database);
        if (!target) {
            results.back().error = "no plaintext password configured to log in to database " + name +
                                   " (a SCRAM verifier alone cannot start a login)";
            continue;
        }
        target->allow_cleartext = database.server_login.allow_cleartext;
        target->allow_md5 = database.server_login.allow_md5;
        target->scram_max_iterations = static_cast<int>(config.server_scram_max_iterations);
        target->tls = database.server_tls;
        if (tls) target->tls_context = tls->server_facing(name);
        if (database.server_tls.sslmode != config::TlsMode::disable && !target->tls_context) {
            results.back().error = "server_tls for database " + name + ": its files did not load";
            continue;
        }
        asio::co_spawn(io, probe(io.get_executor(), *target, database.pool.server_connect_timeout, results.back()),
                       asio::detached);
    }
    io.run();
    return results;
}

}  // namespace pgsluice::proxy
