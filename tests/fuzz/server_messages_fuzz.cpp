// The messages pgsluice looks inside, over a stream of them as a server (or, for 'p', a
// client logging in) would send: framed by the FrameScanner, then each inspected body given
// to its parser: Authentication requests ('R'), ParameterStatus ('S'), ErrorResponse and
// NoticeResponse ('E', 'N'), BackendKeyData ('K'), ReadyForQuery ('Z', into ServerState),
// SASLInitialResponse and PasswordMessage ('p'). CommandComplete ('C') is framed and
// forwarded like any other message: pgsluice has no parser for it. Properties: the parsers
// never read past a body, and what pgsluice re-encodes parses back the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"
#include "protocol/server_state.hpp"

using namespace pgsluice::protocol;

namespace {

Bytes bytes_of(const std::string& s, std::size_t skip) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()) + skip, s.size() - skip);
}

bool valid_sqlstate(const std::string& code) {
    if (code.size() != 5) return false;
    for (char c : code)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
    return true;
}

struct Inspector {
    ServerState state;
    bool inspects(char type, std::uint32_t = 0) const {
        switch (type) {
            case 'R': case 'S': case 'E': case 'N': case 'K': case 'Z': case 'p': case 'C': return true;
            default: return false;
        }
    }
    Verdict on_message(const MessageView& message) {
        const Bytes body = message.body;
        switch (message.type) {
            case 'R':
                if (auto auth = parse_authentication(body)) {
                    if (auth->code == AuthCode::sasl_continue || auth->code == AuthCode::sasl_final)
                        FUZZ_CHECK(auth->data.size() == body.size() - 4);
                }
                break;
            case 'S':
                if (auto status = parse_parameter_status(body)) {
                    std::string out;
                    append_parameter_status(out, status->name, status->value);
                    auto again = parse_parameter_status(bytes_of(out, 5));
                    FUZZ_CHECK(again && again->name == status->name && again->value == status->value);
                }
                break;
            case 'E':
            case 'N':
                if (auto fields = parse_error_response(body)) {
                    // pgsluice passes a server's error on to its client (e.g. a failed login).
                    std::string out;
                    append_error_response(out, *fields);
                    FUZZ_CHECK(out[0] == 'E' && read_u32(bytes_of(out, 1).data()) == out.size() - 1);
                    // It always carries a severity and a real SQLSTATE (XX000 when the server's
                    // was missing or malformed).
                    auto again = parse_error_response(bytes_of(out, 5));
                    FUZZ_CHECK(again && again->message == fields->message && !again->severity.empty());
                    if (valid_sqlstate(fields->sqlstate)) FUZZ_CHECK(again->sqlstate == fields->sqlstate);
                    else FUZZ_CHECK(again->sqlstate == "XX000");
                }
                break;
            case 'K':
                (void)parse_backend_key_data(body);
                break;
            case 'Z':
                state.on_ready_for_query(parse_ready_for_query(body).value_or('E'));
                break;
            case 'p':
                (void)parse_sasl_initial_response(body);
                (void)parse_password_message(body);
                break;
            default:
                break;
        }
        state.on_frontend_message(message.type);
        return Verdict::forward;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Inspector inspector;
    FrameScanner scanner(1 << 20);
    auto result = scanner.scan(Bytes(data, size), inspector);
    FUZZ_CHECK(result.consumed <= size);
    return 0;
}
