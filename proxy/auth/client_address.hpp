// Where a client socket connects from, as the access rules compare it.
#pragma once

#include "config/access_rules.hpp"
#include "proxy/asio.hpp"

namespace pgsluice::proxy {

// The peer of `socket`: a Unix socket, or its IP address. A peer that cannot be read (it
// left already) is the unspecified IPv6 address "::", which only an "all" rule matches.
config::ClientAddress client_address(const Socket& socket);
// The same from the peer name the listener gave the session ("unix", "10.1.2.3:5678",
// "::1:5678", "?"), for a session that holds its socket inside a Transport.
config::ClientAddress client_address_from_peer(const std::string& peer);

}  // namespace pgsluice::proxy
