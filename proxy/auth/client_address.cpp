// A socket's peer as a config::ClientAddress.
#include "proxy/auth/client_address.hpp"

#include <cstring>

namespace pgsluice::proxy {

config::ClientAddress client_address(const Socket& socket) {
    config::ClientAddress unknown;
    unknown.family = config::ClientAddress::Family::ipv6;
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return unknown;
    if (endpoint.protocol().family() == AF_UNIX) return config::ClientAddress::unix_socket();
    asio::ip::tcp::endpoint tcp;
    if (endpoint.size() > tcp.capacity()) return unknown;
    std::memcpy(tcp.data(), endpoint.data(), endpoint.size());
    tcp.resize(endpoint.size());
    return config::ClientAddress::parse(tcp.address().to_string()).value_or(unknown);
}

config::ClientAddress client_address_from_peer(const std::string& peer) {
    config::ClientAddress unknown;
    unknown.family = config::ClientAddress::Family::ipv6;
    if (peer == "unix") return config::ClientAddress::unix_socket();
    const auto colon = peer.rfind(':');
    if (colon == std::string::npos) return unknown;
    return config::ClientAddress::parse(peer.substr(0, colon)).value_or(unknown);
}

}  // namespace pgsluice::proxy
