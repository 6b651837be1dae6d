// Client authentication exchanges.
#include "proxy/client_auth.hpp"

#include "proxy/crypto_thread.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "protocol/auth/md5.hpp"
#include "protocol/messages.hpp"
#include "protocol/sqlstate.hpp"
#include "proxy/message_io.hpp"

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

ClientAuthResult violation(std::string reason) {
    ClientAuthResult result;
    result.error = {"FATAL", sqlstate::kProtocolViolation, reason, {}, {}};
    result.reason = std::move(reason);
    return result;
}

awaitable<std::optional<Message>> read_password_message(Transport& socket) {
    auto message = co_await read_message(socket, kMaxAuthMessage);
    if (message.type != protocol::frontend::kPasswordMessage) co_return std::nullopt;
    co_return message;
}

protocol::scram::Verifier made_up_verifier() {
    protocol::scram::Verifier verifier;
    unsigned char random[80];
    if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("RAND_bytes failed");
    verifier.salt.assign(reinterpret_cast<const char*>(random), 16);
    std::copy(random + 16, random + 48, verifier.stored_key.begin());
    std::copy(random + 48, random + 80, verifier.server_key.begin());
    return verifier;
}

awaitable<ClientAuthResult> authenticate_scram(Transport& socket, const std::string& user,
                                               const UserCredentials* credentials) {
    const bool known = credentials && credentials->verifier;
    protocol::scram::Server server(known ? *credentials->verifier : made_up_verifier(),
                                   protocol::scram::random_nonce());
    std::string out;
    protocol::append_authentication_sasl(out, {protocol::scram::kMechanism});
    co_await write_all(socket, out);

    auto first = co_await read_password_message(socket);
    if (!first) co_return violation("expected SASL response, got message type other than 'p'");
    auto initial = protocol::parse_sasl_initial_response(first->bytes());
    if (!initial) co_return violation("malformed SASLInitialResponse message");
    if (initial->mechanism != protocol::scram::kMechanism)
        co_return violation("client selected an invalid SASL authentication mechanism");
    auto step = server.handle_client_first(initial->data);
    if (!step.ok) co_return violation("malformed SCRAM message: " + step.error);
    out.clear();
    protocol::append_authentication_sasl_continue(out, step.message);
    co_await write_all(socket, out);

    auto final_message = co_await read_password_message(socket);
    if (!final_message) co_return violation("expected SASL response, got message type other than 'p'");
    step = server.handle_client_final(protocol::as_chars(final_message->bytes()));
    if (!step.ok || !known)
        co_return failed(user, known ? "SCRAM proof did not match" : "user is not in the config");
    out.clear();
    protocol::append_authentication_sasl_final(out, step.message);
    co_await write_all(socket, out);
    ClientAuthResult result;
    result.ok = true;
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
    if (!credentials || !credentials->plaintext)
        co_return failed(user, credentials ? "md5 needs a plaintext password in the config" : "user is not in the config");
    auto expected = protocol::md5::salted_response(user, *credentials->plaintext, salt);
    if (!protocol::md5::equal_constant_time(*response, expected)) co_return failed(user, "md5 response did not match");
    co_return ClientAuthResult{true, std::nullopt, {}, {}};
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
    if (!credentials) co_return failed(user, "user is not in the config");
    if (credentials->plaintext) {
        if (!protocol::md5::equal_constant_time(*response, *credentials->plaintext))
            co_return failed(user, "password did not match");
    } else if (credentials->verifier) {
        auto& v = *credentials->verifier;
        const std::string_view password = *response;
        auto derived = co_await off_worker(
            [&] { return protocol::scram::Verifier::from_password(password, v.salt, v.iterations); });
        if (!protocol::md5::equal_constant_time(
                std::string_view(reinterpret_cast<const char*>(derived.stored_key.data()), derived.stored_key.size()),
                std::string_view(reinterpret_cast<const char*>(v.stored_key.data()), v.stored_key.size())))
            co_return failed(user, "password did not match");
    } else {
        co_return failed(user, "user has no password in the config");
    }
    co_return ClientAuthResult{true, std::nullopt, {}, {}};
}

}  // namespace

awaitable<ClientAuthResult> authenticate_client(Transport& socket, const std::string& user,
                                                const UserCredentials* credentials, config::AuthType type) {
    switch (type) {
        case config::AuthType::trust:
            co_return ClientAuthResult{true, std::nullopt, {}, {}};
        case config::AuthType::scram_sha_256:
            co_return co_await authenticate_scram(socket, user, credentials);
        case config::AuthType::md5:
            co_return co_await authenticate_md5(socket, user, credentials);
        case config::AuthType::plain:
            co_return co_await authenticate_cleartext(socket, user, credentials);
    }
    co_return failed(user, "unknown auth_type");
}

}  // namespace pgsluice::proxy
