// The startup packet parser over any packet, as a client's first bytes: the length word is
// checked as pgsluice checks it, then the body is parsed. Properties: a StartupMessage
// re-encodes to the same bytes' parameters, a CancelRequest to the same packet, and the
// "options" parameter parses (or is refused) without reading out of bounds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "fuzz_check.hpp"
#include "protocol/startup.hpp"

using namespace pgsluice::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size >= 4) (void)check_startup_length(read_u32(data));
    const Bytes body(data, size);
    auto parsed = parse_startup_packet(body);
    if (auto* error = std::get_if<StartupError>(&parsed)) {
        FUZZ_CHECK(error->sqlstate != nullptr && std::string(error->sqlstate).size() == 5);
        FUZZ_CHECK(!error->message.empty());
        return 0;
    }
    auto& packet = std::get<StartupPacket>(parsed);
    if (auto* message = std::get_if<StartupMessage>(&packet)) {
        FUZZ_CHECK(!message->user().empty());
        (void)message->database();
        (void)message->protocol_options();
        if (const auto* options = message->find("options")) (void)parse_startup_options(*options);
        // Round trip: what pgsluice would send a server parses back to the same parameters.
        const std::string encoded = encode_startup_message(message->parameters);
        FUZZ_CHECK(read_u32(reinterpret_cast<const std::uint8_t*>(encoded.data())) == encoded.size());
        auto again = parse_startup_packet(
            Bytes(reinterpret_cast<const std::uint8_t*>(encoded.data()) + 4, encoded.size() - 4));
        auto* again_packet = std::get_if<StartupPacket>(&again);
        FUZZ_CHECK(again_packet && std::holds_alternative<StartupMessage>(*again_packet));
        FUZZ_CHECK(std::get<StartupMessage>(*again_packet).parameters == message->parameters);
    } else if (auto* cancel = std::get_if<CancelRequest>(&packet)) {
        const std::string encoded = encode_cancel_request(cancel->process_id, cancel->secret_key);
        FUZZ_CHECK(encoded.size() == size + 4);
        FUZZ_CHECK(encoded.compare(4, std::string::npos, reinterpret_cast<const char*>(data), size) == 0);
    }
    return 0;
}
