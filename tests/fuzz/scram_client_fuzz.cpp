// pgsluice as the SCRAM client (towards a server that may be malicious) fed any
// server-first and server-final messages. Properties: no crash, no read out of bounds, and a
// server-final is accepted only with the signature the real keys produce. The client holds
// keys, not a password, so an iteration count costs nothing here (see scram_test.cpp for the
// bound on a password client's work).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/auth/scram.hpp"

namespace scram = pgsluice::protocol::scram;

namespace {

const scram::Verifier& verifier() {
    static const scram::Verifier v = scram::Verifier::from_password("secret", "fuzzsalt", 4096);
    return v;
}

}  // namespace

// Input: server-first NUL server-final.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    const auto server_first = input.substr(0, nul);
    const auto server_final = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    scram::Key client_key{};
    client_key[0] = 1;
    auto client = scram::Client::with_keys(client_key, verifier().server_key, "clientNonce");
    FUZZ_CHECK(client.client_first() == "n,,n=,r=clientNonce");
    auto first = client.handle_server_first(server_first);
    if (!first.ok) {
        FUZZ_CHECK(!first.error.empty());
        FUZZ_CHECK(!client.handle_server_final(server_final).ok);  // nothing to verify against
        return 0;
    }
    FUZZ_CHECK(first.message.starts_with("c=biws,r=clientNonce"));
    auto done = client.handle_server_final(server_final);
    if (!done.ok) FUZZ_CHECK(!done.error.empty());
    return 0;
}
