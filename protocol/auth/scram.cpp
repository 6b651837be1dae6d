// SCRAM-SHA-256 for both sides, following RFC 5802 section 3 and PostgreSQL's
// auth-scram.c / fe-auth-scram.c for the message shapes it accepts and sends.
#include "protocol/auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cctype>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "protocol/base64.hpp"

namespace pgsluice::protocol::scram {

namespace {

constexpr std::string_view kChannelBindingName = "tls-server-end-point";
constexpr int kMaxIterations = 10'000'000;

std::string_view as_view(const Key& key) { return {reinterpret_cast<const char*>(key.data()), key.size()}; }

Key hmac(std::string_view key, std::string_view data) {
    Key out{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out.data(), &length);
    return out;
}

Key sha256(std::string_view data) {
    Key out{};
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr);
    return out;
}

Key salted_password(std::string_view password, std::string_view salt, int iterations) {
    Key out{};
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                      EVP_sha256(), static_cast<int>(out.size()), out.data());
    return out;
}

Key exclusive_or(const Key& a, const Key& b) {
    Key out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
    return out;
}

bool equal(const Key& a, const Key& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::optional<Key> decode_key(std::string_view b64) {
    auto raw = base64_decode(b64);
    if (!raw || raw->size() != Key().size()) return std::nullopt;
    Key key{};
    std::copy(raw->begin(), raw->end(), key.begin());
    return key;
}

std::optional<int> parse_iterations(std::string_view text) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > kMaxIterations) return std::nullopt;
    return value;
}

// Splits "a=1,b=2" into attributes; nullopt when any part is not "<letter>=<value>".
std::optional<std::vector<std::pair<char, std::string_view>>> attributes(std::string_view message) {
    std::vector<std::pair<char, std::string_view>> out;
    while (true) {
        auto comma = message.find(',');
        auto part = message.substr(0, comma);
        if (part.size() < 2 || part[1] != '=' || !std::isalpha(static_cast<unsigned char>(part[0]))) return std::nullopt;
        out.emplace_back(part[0], part.substr(2));
        if (comma == std::string_view::npos) return out;
        message.remove_prefix(comma + 1);
    }
}

bool printable_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce)
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    return true;
}

Step fail(std::string why) { return Step{false, {}, std::move(why)}; }

}  // namespace

// ---- Verifier ----

std::optional<Verifier> Verifier::parse(std::string_view text) {
    constexpr std::string_view prefix = "SCRAM-SHA-256$";
    if (!text.starts_with(prefix)) return std::nullopt;
    text.remove_prefix(prefix.size());
    auto colon = text.find(':');
    auto dollar = text.find('$');
    if (colon == std::string_view::npos || dollar == std::string_view::npos || colon > dollar) return std::nullopt;
    auto keys = text.substr(dollar + 1);
    auto key_colon = keys.find(':');
    if (key_colon == std::string_view::npos) return std::nullopt;
    auto iterations = parse_iterations(text.substr(0, colon));
    auto salt = base64_decode(text.substr(colon + 1, dollar - colon - 1));
    auto stored = decode_key(keys.substr(0, key_colon));
    auto server = decode_key(keys.substr(key_colon + 1));
    if (!iterations || !salt || salt->empty() || !stored || !server) return std::nullopt;
    return Verifier{*iterations, *salt, *stored, *server};
}

Verifier Verifier::from_password(std::string_view password, std::string_view salt, int iterations) {
    // No SASLprep: a password is used as its raw UTF-8 bytes, which is what PostgreSQL does
    // for every password SASLprep leaves unchanged (all of ASCII, most of Unicode).
    const Key salted = salted_password(password, salt, iterations);
    Verifier verifier;
    verifier.iterations = iterations;
    verifier.salt = std::string(salt);
    verifier.stored_key = sha256(as_view(hmac(as_view(salted), "Client Key")));
    verifier.server_key = hmac(as_view(salted), "Server Key");
    return verifier;
}

std::string Verifier::to_string() const {
    return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64_encode(salt) + "$" +
           base64_encode(as_view(stored_key)) + ":" + base64_encode(as_view(server_key));
}

Verifier mock_verifier(std::string_view secret, std::string_view user) {
    const Key seed = hmac(secret, user);
    Verifier verifier;
    verifier.iterations = kDefaultIterations;
    verifier.salt = std::string(as_view(seed).substr(0, 16));
    verifier.stored_key = hmac(as_view(seed), "stored");
    verifier.server_key = hmac(as_view(seed), "server");
    return verifier;
}

std::string random_nonce() {
    unsigned char raw[18];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
    return base64_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

// ---- Server ----

Server::Server(Verifier verifier, std::string server_nonce)
    : verifier_(std::move(verifier)), server_nonce_(std::move(server_nonce)) {}

void Server::use_channel_binding(std::string end_point, bool plus_selected) {
    channel_binding_ = std::move(end_point);
    plus_selected_ = plus_selected;
}

Step Server::handle_client_first(std::string_view client_first) {
    if (state_ != State::expect_client_first) return fail("unexpected client-first-message");
    state_ = State::done;  // any failure ends the exchange
    // gs2-header: "n," (no channel binding), "y," (the client could, but thinks the server
    // cannot), or "p=<type>," (binding); then an empty authzid and a comma. The checks and
    // their words follow PostgreSQL's read_client_first_message.
    std::size_t header_end = 0;
    if (client_first.starts_with("p=")) {
        const auto comma = client_first.find(',');
        if (!plus_selected_)
            return fail("malformed SCRAM message: the client selected SCRAM-SHA-256 without channel binding, but the "
                        "SCRAM message includes channel binding data");
        if (comma == std::string_view::npos || client_first.substr(2, comma - 2) != kChannelBindingName)
            return fail("unsupported SCRAM channel-binding type");
        binding_used_ = true;
        header_end = comma + 1;
    } else if (client_first.starts_with("y,")) {
        if (plus_selected_)
            return fail("malformed SCRAM message: the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does "
                        "not include channel binding data");
        // A server that can bind was told the client could too but saw no offer: someone in
        // the middle removed SCRAM-SHA-256-PLUS from the list.
        if (channel_binding_)
            return fail("SCRAM channel binding negotiation error: the client supports SCRAM channel binding but "
                        "thinks the server does not, yet this server does support channel binding");
        header_end = 2;
    } else if (client_first.starts_with("n,")) {
        if (plus_selected_)
            return fail("malformed SCRAM message: the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does "
                        "not include channel binding data");
        header_end = 2;
    } else {
        return fail("malformed SCRAM message: bad GS2 header");
    }
    if (client_first.size() <= header_end || client_first[header_end] != ',')
        return fail("client uses authorization identity, but it is not supported");
    gs2_header_ = std::string(client_first.substr(0, header_end + 1));
    client_first_bare_ = std::string(client_first.substr(header_end + 1));
    auto attrs = attributes(client_first_bare_);
    if (!attrs || attrs->size() < 2 || (*attrs)[0].first != 'n' || (*attrs)[1].first != 'r')
        return fail("malformed SCRAM message: expected n= and r= attributes");
    const auto client_nonce = (*attrs)[1].second;
    if (!printable_nonce(client_nonce)) return fail("malformed SCRAM message: bad client nonce");
    combined_nonce_ = std::string(client_nonce) + server_nonce_;
    server_first_ = "r=" + combined_nonce_ + ",s=" + base64_encode(verifier_.salt) + ",i=" +
                    std::to_string(verifier_.iterations);
    state_ = State::expect_client_final;
    return Step{true, server_first_, {}};
}

Step Server::handle_client_final(std::string_view client_final) {
    if (state_ != State::expect_client_final) return fail("unexpected client-final-message");
    state_ = State::done;
    auto proof_at = client_final.rfind(",p=");
    if (proof_at == std::string_view::npos) return fail("malformed SCRAM message: no proof");
    const auto without_proof = client_final.substr(0, proof_at);
    auto attrs = attributes(without_proof);
    if (!attrs || attrs->size() < 2 || (*attrs)[0].first != 'c' || (*attrs)[1].first != 'r')
        return fail("malformed SCRAM message: expected c= and r= attributes");
    // c= is the GS2 header again, followed by the channel binding data when "p=" was used.
    const std::string expected_binding = gs2_header_ + (binding_used_ ? *channel_binding_ : std::string());
    if ((*attrs)[0].second != base64_encode(expected_binding)) return fail("SCRAM channel binding check failed");
    if ((*attrs)[1].second != combined_nonce_) return fail("SCRAM nonce mismatch");
    auto proof = decode_key(client_final.substr(proof_at + 3));
    if (!proof) return fail("malformed SCRAM message: bad proof");

    const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    const Key client_signature = hmac(as_view(verifier_.stored_key), auth_message);
    const Key client_key = exclusive_or(*proof, client_signature);
    if (!equal(sha256(as_view(client_key)), verifier_.stored_key)) return fail("SCRAM proof does not match");
    client_key_ = client_key;
    const Key server_signature = hmac(as_view(verifier_.server_key), auth_message);
    return Step{true, "v=" + base64_encode(as_view(server_signature)), {}};
}

// ---- Client ----

Client Client::with_password(std::string password, std::string client_nonce, std::string user) {
    Client client;
    client.password_ = std::move(password);
    client.client_nonce_ = std::move(client_nonce);
    client.user_ = std::move(user);
    return client;
}

Client Client::with_keys(Key client_key, Key server_key, std::string client_nonce) {
    Client client;
    client.client_key_ = client_key;
    client.server_key_ = server_key;
    client.client_nonce_ = std::move(client_nonce);
    return client;
}

std::string Client::client_first_bare() const { return "n=" + user_ + ",r=" + client_nonce_; }

std::string Client::gs2_header() const {
    return channel_binding_ ? "p=" + std::string(kChannelBindingName) + ",," : std::string("n,,");
}

std::string Client::client_first() const { return gs2_header() + client_first_bare(); }

Step Client::handle_server_first(std::string_view server_first) {
    auto attrs = attributes(server_first);
    if (!attrs || attrs->size() < 3 || (*attrs)[0].first != 'r' || (*attrs)[1].first != 's' || (*attrs)[2].first != 'i')
        return fail("malformed server-first-message");
    const auto nonce = (*attrs)[0].second;
    if (!nonce.starts_with(client_nonce_) || nonce.size() == client_nonce_.size() || !printable_nonce(nonce))
        return fail("server nonce does not extend the client nonce");
    auto salt = base64_decode((*attrs)[1].second);
    auto iterations = parse_iterations((*attrs)[2].second);
    if (!salt || salt->empty()) return fail("malformed salt in server-first-message");
    if (!iterations) return fail("bad iteration count in server-first-message");
    if (*iterations > max_iterations_)
        return fail("server asks for " + std::to_string(*iterations) + " SCRAM iterations, more than " +
                    std::to_string(max_iterations_) + " (server_scram_max_iterations)");

    Key client_key{}, server_key{};
    if (password_) {
        const Key salted = salted_password(*password_, *salt, *iterations);
        client_key = hmac(as_view(salted), "Client Key");
        server_key = hmac(as_view(salted), "Server Key");
    } else if (client_key_ && server_key_) {
        client_key = *client_key_;
        server_key = *server_key_;
    } else {
        return fail("no credentials");
    }
    const std::string binding = gs2_header() + channel_binding_.value_or("");
    const std::string without_proof = "c=" + base64_encode(binding) + ",r=" + std::string(nonce);
    const std::string auth_message = client_first_bare() + "," + std::string(server_first) + "," + without_proof;
    const Key stored_key = sha256(as_view(client_key));
    const Key proof = exclusive_or(client_key, hmac(as_view(stored_key), auth_message));
    const Key server_signature = hmac(as_view(server_key), auth_message);
    expected_server_signature_ = std::string(as_view(server_signature));
    return Step{true, without_proof + ",p=" + base64_encode(as_view(proof)), {}};
}

Step Client::handle_server_final(std::string_view server_final) {
    if (server_final.starts_with("e=")) return fail("server reported: " + std::string(server_final.substr(2)));
    if (!server_final.starts_with("v=") || expected_server_signature_.empty())
        return fail("malformed server-final-message");
    auto signature = base64_decode(server_final.substr(2));
    if (!signature || signature->size() != expected_server_signature_.size() ||
        CRYPTO_memcmp(signature->data(), expected_server_signature_.data(), signature->size()) != 0)
        return fail("server signature does not match");
    return Step{true, {}, {}};
}

}  // namespace pgsluice::protocol::scram
