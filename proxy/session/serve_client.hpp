// The entry point of a client connection: admission against max_client_conn, then its
// session (client_session.hpp), from the startup packet to the close.
#pragma once

#include <string>

#include "proxy/asio.hpp"
#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

// `peer` is for logs ("127.0.0.1:51234" or "unix"). Runs on the socket's worker.
awaitable<void> serve_client(Socket client, ProxyContext& context, std::string peer);

}  // namespace pgsluice::proxy
