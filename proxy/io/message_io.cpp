// Whole-message reads for the login phase.
#include "proxy/io/message_io.hpp"

namespace pgsluice::proxy {

awaitable<Message> read_message(Transport& transport, std::uint32_t max_length) {
    std::array<std::uint8_t, 5> header;
    co_await transport.read_exactly(asio::buffer(header));
    const std::uint32_t length = protocol::read_u32(header.data() + 1);
    if (length < 4 || length > max_length)
        throw ProtocolViolation("invalid message length " + std::to_string(length));
    Message message;
    message.type = static_cast<char>(header[0]);
    message.body.resize(length - 4);
    if (!message.body.empty()) co_await transport.read_exactly(asio::buffer(message.body));
    co_return message;
}

awaitable<void> write_all(Transport& transport, std::string_view bytes) { co_await transport.write_all(bytes); }

}  // namespace pgsluice::proxy
