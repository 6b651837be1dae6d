// Client authentication: the method decided from the config, then the exchange, then (on
// failure) the delay and the count. A failure says the same to the client whatever the
// cause (unknown user, wrong password, no password), as PostgreSQL does.
#include "proxy/auth/client_auth.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "protocol/auth/md5.hpp"
#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"
#include "proxy/runtime/crypto_thread.hpp"
#include "proxy/io/message_io.hpp"
#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

namespace {

namespace sqlstate = protocol::sqlstate;
constexpr std::uint32_t kMaxAuthMessage = 8192;

ClientAuthResult failed(const std::string& user, std::string reason) {
    ClientAuthResult result;
    result.error = {"FATAL", sqlstate::kInvalidPassword,
                    "password authentication failed for user \"" + user + "\"", {}, {}};
    result.reason = std::move(reason);
    return result;
}

ClientAuthResult refused(std::string why) {
    ClientAuthResult result;
    result.error = {"FATAL", sqlstate::kInvalidAuthorizationSpecification, why, {}, {}};
    result.reason = std::move(why);
    return result;
}

ClientAuthResult violation(std::string reason) {
    ClientAuthResult result;
    result.error = {"FATAL", sqlstate::kProtocolViolation, reason, {}, {}};
    result.reason = std::move(reason);
    return result;
}

ClientAuthResult succeeded() {
    ClientAuthResult result;
    result.ok = true;
    return result;
}

// The secret the mock verifiers of unknown users are derived from: random, one per process,
// so the challenge for a name stays the same for the life of the process.
const std::string& mock_secret() {
    static const std::string secret = [] {
        unsigned char bytes[32];
        if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
        return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
    }();
    return secret;
}

awaitable<std::optional<Message>> read_password_message(Transport& socket) {
    auto message = co_await read_message(socket, kMaxAuthMessage);
    if (message.type != protocol::frontend::kPasswordMessage) co_return std::nullopt;
    co_return message;
}

bool same_key(const protocol::scram::Key& a, const protocol::scram::Key& b) {
    return protocol::md5::equal_constant_time(std::string_view(reinterpret_cast<const char*>(a.data()), a.size()),
                                              std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

awaitable<ClientAuthResult> authenticate_scram(Transport& socket, const ClientLogin& login,
                                               const UserCredentials* credentials) {
    const bool known = credentials && credentials->verifier;
    protocol::scram::Server server(known ? *credentials->verifier : protocol::scram::mock_verifier(mock_secret(), login.user),
                                   protocol::scram::random_nonce());
    // PLUS first: libpq picks it when offered and it can bind (channel_binding=prefer).
    std::vector<std::string> mechanisms;
    if (login.channel_binding) mechanisms.emplace_back(protocol::scram::kMechanismPlus);
    mechanisms.emplace_back(protocol::scram::kMechanism);
    std::string out;
    protocol::append_authentication_sasl(out, mechanisms);
    co_await write_all(socket, out);

    auto first = co_await read_password_message(socket);
    if (!first) co_return violation("expected SASL response, got message type other than 'p'");
    auto initial = protocol::parse_sasl_initial_response(first->bytes());
    if (!initial) co_return violation("malformed SASLInitialResponse message");
    const bool plus = initial->mechanism == protocol::scram::kMechanismPlus;
    if (!plus && initial->mechanism != protocol::scram::kMechanism)
        co_return violation("client selected an invalid SASL authentication mechanism");
    if (plus && !login.channel_binding) co_return violation("client selected an invalid SASL authentication mechanism");
    if (login.channel_binding) server.use_channel_binding(*login.channel_binding, plus);
    auto step = server.handle_client_first(initial->data);
    if (!step.ok) co_return violation(step.error);
    out.clear();
    protocol::append_authentication_sasl_continue(out, step.message);
    co_await write_all(socket, out);

    auto final_message = co_await read_password_message(socket);
    if (!final_message) co_return violation("expected SASL response, got message type other than 'p'");
    step = server.handle_client_final(protocol::as_chars(final_message->bytes()));
    if (!step.ok && step.error == "SCRAM channel binding check failed")
        co_return violation("SCRAM channel binding check failed");
    if (!step.ok || !known)
        co_return failed(login.user, known ? "SCRAM proof did not match" : "user is unknown or has no password");
    out.clear();
    protocol::append_authentication_sasl_final(out, step.message);
    co_await write_all(socket, out);
    ClientAuthResult result = succeeded();
    result.client_key = server.client_key();
    co_return result;
}

awaitable<ClientAuthResult> authenticate_md5(Transport& socket, const std::string& user,
                                             const UserCredentials* credentials) {
    protocol::md5::Salt salt;
    if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    std::string out;
    protocol::append_authentication_md5_password(out, salt);
    co_await write_all(socket, out);
    auto message = co_await read_password_message(socket);
    if (!message) co_return violation("expected password response, got message type other than 'p'");
    auto response = protocol::parse_password_message(message->bytes());
    if (!response) co_return violation("malformed password message");
    // The plaintext, or the stored hash auth_query found: salted_response takes either.
    const auto* stored = credentials ? (credentials->plaintext ? &*credentials->plaintext
                                        : credentials->md5_hash ? &*credentials->md5_hash
                                                                : nullptr)
                                     : nullptr;
    if (!stored)
        co_return failed(user, credentials ? "md5 needs a plaintext password or an md5 hash" : "user is unknown");
    auto expected = protocol::md5::salted_response(user, *stored, salt);
    if (!protocol::md5::equal_constant_time(*response, expected)) co_return failed(user, "md5 response did not match");
    co_return succeeded();
}

awaitable<ClientAuthResult> authenticate_cleartext(Transport& socket, const std::string& user,
                                                   const UserCredentials* credentials) {
    std::string out;
    protocol::append_authentication_cleartext_password(out);
    co_await write_all(socket, out);
    auto message = co_await read_password_message(socket);
    if (!message) co_return violation("expected password response, got message type other than 'p'");
    auto response = protocol::parse_password_message(message->bytes());
    if (!response) co_return violation("malformed password message");
    if (!credentials) co_return failed(user, "user is unknown");
    if (credentials->plaintext) {
        if (!protocol::md5::equal_constant_time(*response, *credentials->plaintext))
            co_return failed(user, "password did not match");
    } else if (credentials->verifier) {
        auto& v = *credentials->verifier;
        const std::string_view password = *response;
        auto derived = co_await off_worker(
            [&] { return protocol::scram::Verifier::from_password(password, v.salt, v.iterations); });
        if (!same_key(derived.stored_key, v.stored_key)) co_return failed(user, "password did not match");
    } else if (credentials->md5_hash) {
        if (!protocol::md5::equal_constant_time(protocol::md5::stored_hash(user, *response), *credentials->md5_hash))
            co_return failed(user, "password did not match");
    } else {
        co_return failed(user, "user has no password");
    }
    co_return succeeded();
}

ClientAuthResult authenticate_certificate(const ClientLogin& login) {
    if (!login.certificate_cn)
        return refused("connection requires a valid client certificate");
    if (*login.certificate_cn != login.user)
        return refused("certificate authentication failed for user \"" + login.user +
                       "\": the client certificate's common name does not match");
    return succeeded();
}

// A user the config does not list, looked up with the database's auth_query. Fills
// `found` and returns whether the user exists; throws when the lookup itself fails.
awaitable<bool> look_up(Transport& socket, const ClientLogin& login, const Snapshot& snapshot, ProxyContext& context,
                        UserCredentials& found, std::optional<protocol::scram::Key>& server_key) {
    const auto& config = *snapshot.config;
    auto database = config.databases.find(login.database);
    if (database == config.databases.end() || !database->second.auth_lookup.auth_user) co_return false;
    const auto* auth_user = snapshot.credentials.find(*database->second.auth_lookup.auth_user);
    if (!auth_user || !auth_user->plaintext) co_return false;  // the loader refuses such configs
    // As the pool's servers log in: server_tls_sslmode and its context, the login settings.
    const ServerTarget auth_login = auth_user_target(snapshot, database->second);
    auto user = co_await context.auth_query_cache().lookup(socket.get_executor(), database->second, auth_login,
                                                           login.user, config.auth_query_cache_ttl,
                                                           database->second.pool.server_connect_timeout);
    if (!user.exists) co_return false;
    found.name = login.user;
    if (user.verifier) {
        if (auto verifier = protocol::scram::Verifier::parse(*user.verifier)) {
            found.verifier = *verifier;
            server_key = verifier->server_key;
        } else if (is_md5_hash(*user.verifier)) {
            found.md5_hash = *user.verifier;
        }
        // Anything else (a plaintext password in a custom table) is not trusted as one.
    }
    co_return true;
}

std::string where_from(const ClientLogin& login) {
    return login.address.to_string() + (login.tls ? " with TLS" : " without TLS");
}

}  // namespace

AuthMethodDecision decide_auth_method(const config::Config& config, const config::AccessRules& rules,
                                      const ClientLogin& login) {
    config::AuthType method = config.auth_type;
    if (!rules.empty()) {
        auto decision = rules.match({login.address, login.database, login.user, login.tls});
        if (!decision.method)
            return {std::nullopt, "no access rule allows user \"" + login.user + "\" to connect to database \"" +
                                      login.database + "\" from " + where_from(login)};
        method = *decision.method;
    } else {
        if (auto database = config.databases.find(login.database);
            database != config.databases.end() && database->second.auth_type)
            method = *database->second.auth_type;
        if (auto user = config.users.find(login.user); user != config.users.end() && user->second.auth_type)
            method = *user->second.auth_type;
    }
    switch (method) {
        case config::AuthType::reject:
            return {std::nullopt, "access rules reject user \"" + login.user + "\" on database \"" + login.database +
                                      "\" from " + where_from(login)};
        case config::AuthType::plain:
            if (!login.tls && !config.allow_plain_without_tls)
                return {std::nullopt, "password authentication in clear text needs a TLS connection"};
            break;
        case config::AuthType::cert:
            if (!login.tls) return {std::nullopt, "certificate authentication needs a TLS connection"};
            break;
        default:
            break;
    }
    return {method, {}};
}

awaitable<ClientAuthResult> authenticate_client(Transport& socket, const ClientLogin& login, const Snapshot& snapshot,
                                                ProxyContext& context) {
    const auto& config = *snapshot.config;
    const auto decision = decide_auth_method(config, snapshot.access_rules, login);
    const UserCredentials* credentials = snapshot.credentials.find(login.user);
    bool known = credentials != nullptr;
    ClientAuthResult result;
    if (!decision.method) {
        result = refused(decision.refusal);
    } else {
        UserCredentials looked_up;
        std::optional<protocol::scram::Key> looked_up_server_key;
        const bool needs_secret = *decision.method == config::AuthType::scram_sha_256 ||
                                  *decision.method == config::AuthType::md5 ||
                                  *decision.method == config::AuthType::plain;
        std::optional<std::string> lookup_error;
        if (!credentials && needs_secret) {
            try {
                if (co_await look_up(socket, login, snapshot, context, looked_up, looked_up_server_key)) {
                    credentials = &looked_up;
                    known = true;
                }
            } catch (const ServerLoginError& e) {
                lookup_error = std::string("auth_query lookup failed: ") + e.what();
            }
        }
        if (lookup_error) {
            // The client hears what a wrong password would tell it; the log says why.
            result = failed(login.user, *lookup_error);
        } else {
            switch (*decision.method) {
                case config::AuthType::trust:
                    result = succeeded();
                    break;
                case config::AuthType::cert:
                    result = authenticate_certificate(login);
                    break;
                case config::AuthType::scram_sha_256:
                    result = co_await authenticate_scram(socket, login, credentials);
                    break;
                case config::AuthType::md5:
                    result = co_await authenticate_md5(socket, login.user, credentials);
                    break;
                case config::AuthType::plain:
                    result = co_await authenticate_cleartext(socket, login.user, credentials);
                    break;
                case config::AuthType::reject:
                    result = refused("rejected");
                    break;
            }
            if (result.ok && result.client_key) result.server_key = looked_up_server_key;
        }
    }
    if (!result.ok) {
        context.login_failures().record(login.user, known);
        // Slows down guessing; a timer, so the worker serves other clients meanwhile. A
        // client breaking the protocol learns nothing from its answer: no delay.
        const bool guess = result.error.sqlstate == sqlstate::kInvalidPassword ||
                           result.error.sqlstate == sqlstate::kInvalidAuthorizationSpecification;
        if (const auto delay = config.limits.auth_failure_delay; guess && delay.count() > 0) {
            asio::steady_timer timer(socket.get_executor(), delay);
            co_await timer.async_wait(asio::as_tuple(use_awaitable));
        }
    }
    co_return result;
}

}  // namespace pgsluice::proxy
