// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, both sides, as pure state
// machines: text in, text out. pgsluice is the server towards clients (ScramServer) and the
// client towards PostgreSQL (ScramClient). As the server, SCRAM-SHA-256-PLUS with
// tls-server-end-point channel binding (RFC 5929) for TLS clients. OpenSSL provides the
// hash, HMAC and PBKDF2.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsluice::protocol::scram {

using Key = std::array<std::uint8_t, 32>;  // SHA-256 sized

inline constexpr const char* kMechanism = "SCRAM-SHA-256";
inline constexpr const char* kMechanismPlus = "SCRAM-SHA-256-PLUS";
inline constexpr int kDefaultIterations = 4096;
// The most PBKDF2 rounds pgsluice does for a server that asks (PostgreSQL's default is 4096;
// 100,000 take about 70 ms, on the key-derivation thread). A server asking more is refused: a malicious
// or misconfigured one could otherwise keep that thread, and every server login, waiting for seconds.
inline constexpr int kMaxServerIterations = 100'000;

// What PostgreSQL stores in pg_authid: "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>".
struct Verifier {
    int iterations = kDefaultIterations;
    std::string salt;  // raw bytes
    Key stored_key{};
    Key server_key{};

    static std::optional<Verifier> parse(std::string_view text);
    // Derives a verifier from a plaintext password (PBKDF2 with `iterations` rounds).
    static Verifier from_password(std::string_view password, std::string_view salt, int iterations);
    std::string to_string() const;
};

// What an unknown user is challenged with, so that a client cannot tell it from a real one
// (PostgreSQL's mock authentication): salt and keys from HMAC-SHA256(secret, user), the
// same on every attempt for the same user and secret, and PostgreSQL's default iteration
// count, which is what a real user most likely has. No password matches it.
Verifier mock_verifier(std::string_view secret, std::string_view user);

// The result of feeding one message to either side.
struct Step {
    bool ok = false;
    std::string message;  // what to send next (server-first, client-final, server-final, ...)
    std::string error;    // why it failed; safe to log (never contains a secret)
};

// pgsluice as the SCRAM server, verifying a client against a Verifier.
class Server {
public:
    // `server_nonce` is random printable text (tests pass a fixed one); see random_nonce().
    Server(Verifier verifier, std::string server_nonce);

    // On a TLS connection, before handle_client_first: the tls-server-end-point data of the
    // certificate pgsluice presented, and whether the client picked SCRAM-SHA-256-PLUS.
    // Without it, the server did not offer channel binding.
    void use_channel_binding(std::string end_point, bool plus_selected);

    // client-first-message (the data of SASLInitialResponse) -> server-first-message.
    Step handle_client_first(std::string_view client_first);
    // client-final-message (SASLResponse) -> server-final-message ("v=..."), ok when the
    // proof matches. After success client_key() is the key the client proved it has.
    Step handle_client_final(std::string_view client_final);

    const std::optional<Key>& client_key() const { return client_key_; }

private:
    Verifier verifier_;
    std::string server_nonce_;
    std::string gs2_header_;  // "n,,", "y,," or "p=tls-server-end-point,,": c= must repeat it
    std::optional<std::string> channel_binding_;  // set: TLS, and PLUS was offered
    bool plus_selected_ = false;
    bool binding_used_ = false;  // the client sent "p=": c= carries channel_binding_ too
    std::string client_first_bare_;
    std::string server_first_;
    std::string combined_nonce_;
    std::optional<Key> client_key_;
    enum class State { expect_client_first, expect_client_final, done } state_ = State::expect_client_first;
};

// pgsluice as the SCRAM client logging in to PostgreSQL.
class Client {
public:
    // With the plaintext password. `user` goes into client-first as n=<user>; PostgreSQL
    // ignores it (the startup packet names the user) and libpq sends it empty.
    static Client with_password(std::string password, std::string client_nonce, std::string user = {});
    // With keys only (pass-through): the ClientKey a client proved to pgsluice and the
    // ServerKey from the configured verifier. Works when PostgreSQL holds the same verifier.
    static Client with_keys(Key client_key, Key server_key, std::string client_nonce);

    // Binds the exchange to the TLS connection (SCRAM-SHA-256-PLUS): `end_point` is the
    // tls-server-end-point hash of the certificate the server presented. Before client_first().
    void use_channel_binding(std::string end_point) { channel_binding_ = std::move(end_point); }
    // A server asking for more PBKDF2 rounds than this is refused (server_scram_max_iterations).
    void set_max_iterations(int max_iterations) { max_iterations_ = max_iterations; }

    // "n,,n=,r=<nonce>" (the user name is taken from the startup packet, as libpq does);
    // "p=tls-server-end-point,,n=,r=<nonce>" with channel binding.
    std::string client_first() const;
    // server-first-message -> client-final-message.
    Step handle_server_first(std::string_view server_first);
    // server-final-message; ok when the server's signature verifies.
    Step handle_server_final(std::string_view server_final);

private:
    Client() = default;
    std::string client_first_bare() const;
    std::string gs2_header() const;
    std::optional<std::string> channel_binding_;
    int max_iterations_ = kMaxServerIterations;
    std::optional<std::string> password_;
    std::string user_;
    std::optional<Key> client_key_;
    std::optional<Key> server_key_;
    std::string client_nonce_;
    std::string expected_server_signature_;  // raw bytes, set by handle_server_first
};

// 18 random bytes from OpenSSL's RAND_bytes, base64-encoded (24 printable characters).
std::string random_nonce();

}  // namespace pgsluice::protocol::scram
