// Reading and writing whole small messages on a Transport: the startup packet, the
// authentication exchange, a server's login replies. Streams of query traffic never go
// through here (see forward/forwarder.hpp); these are bounded by `max_length`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire.hpp"
#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"

namespace pgsluice::proxy {

struct Message {
    char type = 0;
    std::vector<std::uint8_t> body;
    protocol::Bytes bytes() const { return {body.data(), body.size()}; }
};

// A message exceeded `max_length` or had a length below 4: the peer breaks the protocol.
struct ProtocolViolation : std::runtime_error {
    using std::runtime_error::runtime_error;
};

awaitable<Message> read_message(Transport& transport, std::uint32_t max_length);
awaitable<void> write_all(Transport& transport, std::string_view bytes);

}  // namespace pgsluice::proxy
