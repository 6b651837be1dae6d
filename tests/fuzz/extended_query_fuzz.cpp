// The extended-query messages pgsluice renames, over a stream of them as a client would send:
// framed by the FrameScanner, each Parse, Bind, Describe, Close and Execute given to its
// parser, each Query text to the DEALLOCATE recogniser. Properties: the parsers never read
// past a body, a renamed message parses back with the new name and every other byte kept,
// and a Bind's head plus its original rest is the whole renamed Bind.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "protocol/deallocate_statement.hpp"
#include "protocol/extended_query.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"

using namespace pgsluice::protocol;

namespace {

Bytes body_of(const std::string& message) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(message.data()) + 5, message.size() - 5);
}

struct Inspector {
    bool inspects(char type, std::uint32_t = 0) const {
        switch (type) {
            case 'P': case 'B': case 'D': case 'C': case 'E': case 'Q': return true;
            default: return false;
        }
    }
    Verdict on_message(const MessageView& message) {
        const Bytes body = message.body;
        switch (message.type) {
            case 'P':
                if (auto parse = parse_parse(body)) {
                    std::string out;
                    append_parse(out, "pgsluice_1", parse->query, parse->parameter_types);
                    auto again = parse_parse(body_of(out));
                    FUZZ_CHECK(again && again->statement == "pgsluice_1" && again->query == parse->query &&
                               again->parameter_types == parse->parameter_types);
                }
                break;
            case 'B':
                if (auto bind = parse_bind(body)) {
                    std::string out;
                    append_bind(out, *bind, "pgsluice_2");
                    auto again = parse_bind(body_of(out));
                    FUZZ_CHECK(again && again->portal == bind->portal && again->statement == "pgsluice_2" &&
                               again->rest == bind->rest);
                    auto names = parse_bind_names(body);
                    FUZZ_CHECK(names && names->statement == bind->statement);
                    std::string head;
                    append_bind_head(head, names->portal, "pgsluice_2", body.size() - names->rest_offset);
                    FUZZ_CHECK(head + std::string(as_chars(body.subspan(names->rest_offset))) == out);
                }
                break;
            case 'D':
            case 'C':
                if (auto target = message.type == 'D' ? parse_describe(body) : parse_close(body)) {
                    std::string out;
                    if (message.type == 'D') append_describe(out, target->kind, "pgsluice_3");
                    else append_close(out, target->kind, "pgsluice_3");
                    auto again = message.type == 'D' ? parse_describe(body_of(out)) : parse_close(body_of(out));
                    FUZZ_CHECK(again && again->kind == target->kind && again->name == "pgsluice_3");
                }
                break;
            case 'E':
                (void)parse_execute(body);
                break;
            case 'Q':
                if (auto text = parse_query_text(body)) {
                    if (auto statement = parse_deallocate_statement(*text)) {
                        if (statement->kind == DeallocateStatement::Kind::deallocate) FUZZ_CHECK(!statement->name.empty());
                        else FUZZ_CHECK(statement->name.empty());
                    }
                }
                break;
            default:
                break;
        }
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
