// TCP keepalive and TCP_USER_TIMEOUT (config::TcpOptions) on the sockets pgsluice accepts and
// opens, so a peer behind a cut network is found dead in seconds, not after ~15 minutes of
// kernel retransmissions.
#pragma once

#include <string>

#include "config/config.hpp"

namespace pgsluice::proxy {

// Sets SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT on a
// connected TCP socket; values of 0 are left to the OS. Returns "" or what failed (the
// socket still works, only without that option).
std::string apply_tcp_options(int fd, const config::TcpOptions& options);

// The options for sockets to servers. Process-wide because servers are connected deep in a
// pool, with no config snapshot at hand; ProxyContext sets it at start and on every reload.
void set_server_tcp_options(const config::TcpOptions& options);
config::TcpOptions server_tcp_options();

}  // namespace pgsluice::proxy
