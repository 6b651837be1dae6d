// Accept loops for the TCP address and the Unix socket. Each accepted client goes to the
// next worker (round robin) and gets a session coroutine there; an accept error is logged
// and backed off, never fatal.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "proxy/asio.hpp"
#include "proxy/runtime/proxy_context.hpp"
#include "proxy/runtime/workers.hpp"

namespace pgsluice::proxy {

using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// Binds and listens; throws std::runtime_error naming the address on failure.
Acceptor listen_tcp(asio::io_context& io, const std::string& address, std::uint16_t port);
Acceptor listen_unix(asio::io_context& io, const std::string& directory, std::uint16_t port, unsigned mode = 0777);

awaitable<void> accept_clients(Acceptor& acceptor, ProxyContext& context, std::string name, Workers& workers);

}  // namespace pgsluice::proxy
