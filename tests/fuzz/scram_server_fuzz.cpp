// pgsluice as the SCRAM server (towards clients) fed any client-first and client-final
// messages. Properties: it never accepts a proof it did not verify, and a genuine client
// whose nonce the input chooses always logs in.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/auth/scram.hpp"

namespace scram = pgsluice::protocol::scram;

namespace {

constexpr std::string_view kServerNonce = "fuzzServerNonce0123456789";

const scram::Verifier& verifier() {
    static const scram::Verifier v = scram::Verifier::from_password("secret", "fuzzsalt", 4096);
    return v;
}

// The ClientKey behind verifier(): learned once from a genuine login with the password.
const scram::Key& client_key() {
    static const scram::Key key = [] {
        scram::Server server(verifier(), std::string(kServerNonce));
        auto client = scram::Client::with_password("secret", "init");
        auto first = server.handle_client_first(client.client_first());
        auto final_message = client.handle_server_first(first.message);
        auto done = server.handle_client_final(final_message.message);
        FUZZ_CHECK(done.ok && server.client_key());
        return *server.client_key();
    }();
    return key;
}

bool printable_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce)
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    return true;
}

}  // namespace

// Input: a mode byte, then (mode even) client-first NUL client-final, or (mode odd) a client
// nonce for a genuine client.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    scram::Server server(verifier(), std::string(kServerNonce));
    if (data[0] & 1) {
        auto client = scram::Client::with_keys(client_key(), verifier().server_key, std::string(rest));
        auto first = server.handle_client_first(client.client_first());
        if (!printable_nonce(rest)) return 0;  // a ',' or '=' in it makes other attributes
        FUZZ_CHECK(first.ok);
        auto final_message = client.handle_server_first(first.message);
        FUZZ_CHECK(final_message.ok);
        auto done = server.handle_client_final(final_message.message);
        FUZZ_CHECK(done.ok && server.client_key() == client_key());
        FUZZ_CHECK(client.handle_server_final(done.message).ok);
        // A second final message is refused: the exchange is over.
        FUZZ_CHECK(!server.handle_client_final(final_message.message).ok);
        return 0;
    }
    const auto nul = rest.find('\0');
    const auto client_first = rest.substr(0, nul);
    const auto client_final = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    auto first = server.handle_client_first(client_first);
    if (!first.ok) {
        FUZZ_CHECK(!first.error.empty());
        FUZZ_CHECK(!server.handle_client_final(client_final).ok);  // no second chance
        return 0;
    }
    FUZZ_CHECK(first.message.starts_with("r="));
    auto done = server.handle_client_final(client_final);
    // A proof the input made up passes only if it is the genuine one, which needs the key.
    if (done.ok) FUZZ_CHECK(server.client_key() == client_key());
    else FUZZ_CHECK(!done.error.empty() && !server.client_key());
    return 0;
}
