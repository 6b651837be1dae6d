// Connecting and logging in to PostgreSQL.
#include "proxy/backend/server_connection.hpp"

#include "proxy/runtime/crypto_thread.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <mutex>

#include "protocol/auth/md5.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "proxy/io/message_io.hpp"
#include "proxy/io/tcp_options.hpp"
#include "proxy/tls/tls_policy.hpp"

namespace pgsluice::proxy {

namespace {

namespace sqlstate = protocol::sqlstate;
// Login replies are small, but a server may send long error messages or notices.
constexpr std::uint32_t kMaxLoginMessage = 1 << 20;

[[noreturn]] void fail(std::string message, const char* code = sqlstate::kConnectionFailure) {
    throw ServerLoginError({"FATAL", code, std::move(message), {}, {}});
}

std::string needs_password(const ServerTarget& target, const char* method) {
    return std::string("server asked for ") + method + " authentication for user \"" + target.user +
           "\" but pgsluice has no plaintext password for it";
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
        return std::tolower(x) < std::tolower(y);
    });
}

const std::string* ServerConnection::reported(std::string_view name) const {
    auto it = parameters_.find(name);
    return it != parameters_.end() ? &it->second : nullptr;
}

const std::string* ServerConnection::login_parameter(std::string_view name) const {
    auto it = login_parameters_.find(name);
    return it != login_parameters_.end() ? &it->second : nullptr;
}

const ServerConnection::AppliedSetting* ServerConnection::applied(std::string_view name) const {
    auto it = applied_.find(name);
    return it != applied_.end() ? &it->second : nullptr;
}

const CancelAddress& intern_cancel_address(const CancelAddress& address) {
    static std::mutex mutex;
    static std::deque<CancelAddress> known;  // a deque: its elements never move
    std::lock_guard lock(mutex);
    for (const auto& entry : known)
        if (entry == address) return entry;
    return known.emplace_back(address);
}

bool same_login(const ServerTarget& a, const ServerTarget& b) {
    return a.host == b.host && a.port == b.port && a.dbname == b.dbname && a.user == b.user &&
           a.password == b.password && a.md5_hash == b.md5_hash && a.server_key == b.server_key && a.tls == b.tls;
}

std::string ServerTarget::address() const {
    if (host.starts_with('/')) return host + "/.s.PGSQL." + std::to_string(port);
    return host + ":" + std::to_string(port);
}

awaitable<Socket> open_socket(Executor io_executor, const ServerTarget& target) {
    Socket socket(io_executor);
    if (target.host.starts_with('/')) {
        asio::local::stream_protocol::endpoint endpoint(target.address());
        co_await socket.async_connect(endpoint, use_awaitable);
        co_return socket;
    }
    asio::ip::tcp::resolver resolver(io_executor);
    auto results = co_await resolver.async_resolve(target.host, std::to_string(target.port), use_awaitable);
    boost::system::error_code last_error = asio::error::host_not_found;
    for (const auto& entry : results) {
        Socket attempt(io_executor);
        auto [ec] = co_await attempt.async_connect(entry.endpoint(), asio::as_tuple(use_awaitable));
        if (!ec) {
            attempt.set_option(asio::ip::tcp::no_delay(true));
            // Keepalive and TCP_USER_TIMEOUT (config tcp_*): a server behind a cut network
            // is found dead in seconds.
            if (auto failed = apply_tcp_options(attempt.native_handle(), server_tcp_options()); !failed.empty())
                spdlog::debug("server socket options: {}", failed);
            co_return attempt;
        }
        last_error = ec;
    }
    throw boost::system::system_error(last_error);
}

ServerConnection::ServerConnection(Socket socket, std::uint64_t id, const ServerTarget& target)
    : transport_(std::move(socket)),
      id_(id),
      address_(target.address()),
      cancel_address_(&intern_cancel_address({target.host, target.port})) {
    transport_.local_protocol(protocol_);
    transport_.local_address(local_addr_, local_port_);
}

void ServerConnection::move_to(const Executor& executor) {
    // No operation is pending on an idle server, so moving loses nothing; should it fail,
    // the server stays where it is: still correct, only slower.
    transport_.move_to(executor, protocol_);
}

awaitable<std::unique_ptr<ServerConnection>> ServerConnection::connect(Executor io_executor,
                                                                       const ServerTarget& target,
                                                                       Duration timeout, std::uint64_t id) {
    std::unique_ptr<ServerConnection> server;
    auto attempt = [&]() -> awaitable<void> {
        Socket socket = co_await open_socket(io_executor, target);
        server.reset(new ServerConnection(std::move(socket), id, target));
        co_await server->negotiate_tls(target);
        co_await server->login(target);
    };
    try {
        co_await with_deadline(attempt(), timeout);
    } catch (const ServerLoginError&) {
        throw;
    } catch (const DeadlineExpired&) {
        fail("could not connect to server " + target.address() + ": timed out after " +
                 std::to_string(timeout.count()) + " ms (server_connect_timeout)",
             sqlstate::kSqlclientUnableToEstablishSqlconnection);
    } catch (const boost::system::system_error& e) {
        fail("could not connect to server " + target.address() + ": " + e.code().message(),
             sqlstate::kSqlclientUnableToEstablishSqlconnection);
    } catch (const ProtocolViolation& e) {
        fail("server " + target.address() + " broke the protocol during login: " + e.what(),
             sqlstate::kProtocolViolation);
    } catch (const std::exception& e) {  // e.g. RAND_bytes failed: no nonce
        fail("could not log in to server " + target.address() + ": " + e.what(), sqlstate::kInternalError);
    }
    co_return server;
}

// server_tls_sslmode: an SSLRequest first, then the TLS handshake when the server says 'S'.
// A server that says 'N' is refused when TLS is required, else the login goes on in
// plaintext (allow, prefer). The certificate's chain and host name are checked by the
// context and the handshake (verify-ca, verify-full).
awaitable<void> ServerConnection::negotiate_tls(const ServerTarget& target) {
    const auto policy = tls::server_tls_policy(target.tls.sslmode);
    if (!policy.request_tls) co_return;
    if (!target.tls_context) {
        // Never in a pool (a snapshot has a context for every database with TLS on), but
        // never plaintext where TLS is required either.
        if (policy.require_tls)
            fail(std::string("server_tls_sslmode ") + config::to_string(target.tls.sslmode) + " for server " + target.address() +
                     " but no TLS context was loaded",
                 sqlstate::kSqlclientUnableToEstablishSqlconnection);
        co_return;
    }
    // (Locals, not temporaries, in the co_await expressions: GCC 12 mishandles those.)
    const std::string request = protocol::encode_ssl_request();
    co_await write_all(transport_, request);
    std::array<std::uint8_t, 1> answer{};
    co_await transport_.read_exactly(asio::buffer(answer));
    if (answer[0] == 'S') {
        std::string verify_host;
        if (policy.verify_host) verify_host = target.host;
        try {
            co_await transport_.start_tls_client(target.tls_context.get(), verify_host);
        } catch (const TlsError& e) {
            fail("TLS with server " + target.address() + " failed: " + e.what(),
                 sqlstate::kSqlclientUnableToEstablishSqlconnection);
        }
        co_return;
    }
    if (answer[0] != 'N') fail("server " + target.address() + " answered the SSLRequest with neither S nor N",
                               sqlstate::kProtocolViolation);
    if (policy.require_tls)
        fail("server " + target.address() + " does not accept TLS, and server_tls_sslmode " +
                 config::to_string(target.tls.sslmode) + " requires it",
             sqlstate::kSqlclientUnableToEstablishSqlconnection);
}

awaitable<void> ServerConnection::login(const ServerTarget& target) {
    // Built outside the co_await: GCC 12 miscompiles brace-initialized arrays inside one.
    const std::string startup = protocol::encode_startup_message({{"user", target.user}, {"database", target.dbname}});
    co_await write_all(transport_, startup);
    std::optional<protocol::scram::Client> scram;
    // A server that skips authentication, or SCRAM's last step that proves it knows the
    // password, is refused: only a man in the middle or a broken server does that.
    bool authenticated = false;
    bool scram_verified = false;
    std::string out;
    while (true) {
        Message message = co_await read_message(transport_, kMaxLoginMessage);
        if (!authenticated && message.type != protocol::backend::kAuthentication &&
            message.type != protocol::backend::kErrorResponse && message.type != protocol::backend::kNoticeResponse &&
            message.type != protocol::backend::kNegotiateProtocolVersion)
            fail(std::string("server sent message type '") + (std::isprint(static_cast<unsigned char>(message.type)) ? message.type : '?') +
                     "' before authentication completed",
                 sqlstate::kProtocolViolation);
        out.clear();
        switch (message.type) {
            case protocol::backend::kAuthentication: {
                auto auth = protocol::parse_authentication(message.bytes());
                if (!auth) fail("malformed authentication request from server", sqlstate::kProtocolViolation);
                switch (auth->code) {
                    case protocol::AuthCode::ok:
                        if (scram && !scram_verified)
                            fail("server sent AuthenticationOk before the SCRAM exchange completed",
                                 sqlstate::kProtocolViolation);
                        authenticated = true;
                        break;
                    case protocol::AuthCode::cleartext_password:
                        if (!target.allow_cleartext)
                            fail("server asked for the password of user \"" + target.user +
                                 "\" in clear text; refused (set server_allow_cleartext_password for this database "
                                 "to allow it)");
                        if (!target.password) fail(needs_password(target, "cleartext"));
                        protocol::append_password_message(out, *target.password);
                        break;
                    case protocol::AuthCode::md5_password: {
                        if (!target.allow_md5)
                            fail("server asked for MD5 authentication for user \"" + target.user +
                                 "\"; refused (set server_allow_md5_password for this database to allow it)");
                        // The plaintext, or pg_shadow's md5 hash: salted_response takes either.
                        const auto* secret = target.password ? &*target.password
                                             : target.md5_hash ? &*target.md5_hash
                                                               : nullptr;
                        if (!secret) fail(needs_password(target, "MD5"));
                        protocol::append_password_message(
                            out, protocol::md5::salted_response(target.user, *secret, auth->md5_salt));
                        break;
                    }
                    case protocol::AuthCode::sasl: {
                        bool offered = false;
                        for (const auto& m : auth->mechanisms) offered |= (m == protocol::scram::kMechanism);
                        if (!offered) fail("server offered no SASL mechanism pgsluice supports");
                        if (target.password) {
                            scram = protocol::scram::Client::with_password(*target.password,
                                                                           protocol::scram::random_nonce());
                        } else if (target.client_key && target.server_key) {
                            scram = protocol::scram::Client::with_keys(*target.client_key, *target.server_key,
                                                                       protocol::scram::random_nonce());
                        } else if (target.md5_hash) {
                            fail("server asked for SCRAM authentication for user \"" + target.user +
                                 "\" but pgsluice has only its MD5 hash (from auth_query), which can answer MD5 only; "
                                 "let PostgreSQL ask this user for md5 in pg_hba.conf, or store a SCRAM verifier");
                        } else {
                            fail("server asked for SCRAM authentication for user \"" + target.user +
                                 "\" but pgsluice has neither its password nor a key from a SCRAM client login");
                        }
                        scram->set_max_iterations(target.scram_max_iterations);
                        protocol::append_sasl_initial_response(out, protocol::scram::kMechanism,
                                                               scram->client_first());
                        break;
                    }
                    case protocol::AuthCode::sasl_continue: {
                        if (!scram) fail("unexpected SASLContinue from server", sqlstate::kProtocolViolation);
                        // PBKDF2 with the server's iteration count, which a broken or hostile
                        // server may set to millions: not on the worker that serves clients.
                        auto& client = *scram;
                        const std::string_view server_first = auth->data;
                        auto step = co_await off_worker([&] { return client.handle_server_first(server_first); });
                        if (!step.ok) fail("SCRAM exchange with server failed: " + step.error);
                        protocol::append_sasl_response(out, step.message);
                        break;
                    }
                    case protocol::AuthCode::sasl_final: {
                        if (!scram) fail("unexpected SASLFinal from server", sqlstate::kProtocolViolation);
                        auto step = scram->handle_server_final(auth->data);
                        if (!step.ok) fail("server's SCRAM signature did not verify: " + step.error);
                        scram_verified = true;
                        break;
                    }
                    default:
                        fail("server asked for an authentication method pgsluice does not support (code " +
                             std::to_string(static_cast<std::uint32_t>(auth->code)) + ")");
                }
                if (!out.empty()) co_await write_all(transport_, out);
                break;
            }
            case protocol::backend::kErrorResponse: {
                auto fields = protocol::parse_error_response(message.bytes());
                if (!fields) fail("malformed ErrorResponse from server", sqlstate::kProtocolViolation);
                throw ServerLoginError(*fields);
            }
            case protocol::backend::kParameterStatus: {
                auto status = protocol::parse_parameter_status(message.bytes());
                if (status) parameters_[status->name] = status->value;
                break;
            }
            case protocol::backend::kBackendKeyData: {
                auto key = protocol::parse_backend_key_data(message.bytes());
                if (key) backend_key_ = *key;
                break;
            }
            case protocol::backend::kReadyForQuery:
                state_.on_ready_for_query('I');
                login_parameters_ = parameters_;
                co_return;
            default:  // NoticeResponse, NegotiateProtocolVersion: nothing to do
                break;
        }
    }
}

awaitable<std::optional<protocol::ErrorFields>> ServerConnection::run_simple_query(std::string_view sql,
                                                                                 std::vector<std::string>* first_row) {
    bool row_seen = false;
    std::string out;
    protocol::append_query(out, sql);
    state_.on_frontend_message(protocol::frontend::kQuery);
    co_await write_all(transport_, out);
    std::optional<protocol::ErrorFields> first_error;
    while (true) {
        Message message = co_await read_message(transport_, kMaxLoginMessage);
        switch (message.type) {
            case protocol::backend::kErrorResponse:
                if (!first_error) {
                    auto fields = protocol::parse_error_response(message.bytes());
                    first_error = fields ? *fields : protocol::ErrorFields{"ERROR", sqlstate::kInternalError, "malformed error", {}, {}};
                }
                break;
            case protocol::backend::kParameterStatus: {
                auto status = protocol::parse_parameter_status(message.bytes());
                if (status) set_parameter(status->name, status->value);
                break;
            }
            case 'D': {  // DataRow: int16 columns, then per column int32 length (-1: NULL) and bytes
                if (!first_row || row_seen) break;
                row_seen = true;
                protocol::BodyReader reader(message.bytes());
                auto columns = reader.u16().value_or(0);
                for (std::uint16_t i = 0; i < columns; ++i) {
                    auto length = reader.u32();
                    if (!length) break;
                    if (*length == 0xFFFFFFFFu) {
                        first_row->emplace_back();
                        continue;
                    }
                    first_row->emplace_back(reader.bytes(*length).value_or(""));
                }
                break;
            }
            case protocol::backend::kReadyForQuery: {
                auto status = protocol::parse_ready_for_query(message.bytes());
                state_.on_ready_for_query(status.value_or('E'));
                co_return first_error;
            }
            case protocol::backend::kCopyInResponse:
            case protocol::backend::kCopyOutResponse:
            case protocol::backend::kCopyBothResponse:
                throw ProtocolViolation("internal query unexpectedly started COPY");
            default:
                break;
        }
    }
}

void ServerConnection::close() {
    // Terminate politely so the server logs a clean disconnect; best effort, never blocks.
    std::string out;
    protocol::append_terminate(out);
    transport_.close(out);
}

}  // namespace pgsluice::proxy
