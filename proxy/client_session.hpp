// One coroutine per client connection: the startup packet (and SSL/GSS refusal, cancel
// requests), authentication, routing to a pool, the server lease, and forwarding. Whatever
// way it ends, the session closes the client with a reason and never hands a server that
// is not idle to the next client.
#pragma once

#include <string>

#include "proxy/asio.hpp"
#include "proxy/proxy_context.hpp"

namespace pgsluice::proxy {

// `peer` is for logs ("127.0.0.1:51234" or "unix"). Runs on the socket's worker.
awaitable<void> serve_client(Socket client, ProxyContext& context, std::string peer);

}  // namespace pgsluice::proxy
