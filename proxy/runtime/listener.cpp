// Listening sockets and accept loops.
#include "proxy/runtime/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "proxy/session/serve_client.hpp"
#include "proxy/observe/log_rate_limit.hpp"
#include "proxy/io/tcp_options.hpp"

namespace pgsluice::proxy {

namespace {

template <class Endpoint>
Acceptor open_acceptor(asio::io_context& io, const Endpoint& endpoint, bool reuse, const std::string& label) {
    Acceptor acceptor(io);
    asio::generic::stream_protocol::endpoint generic(endpoint);
    boost::system::error_code ec;
    acceptor.open(generic.protocol(), ec);
    if (!ec && reuse) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(generic, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + label + ": " + ec.message());
    return acceptor;
}

std::string peer_name(const Socket& socket) {
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    if (ec) return "?";
    if (endpoint.protocol().family() == AF_UNIX) return "unix";
    asio::ip::tcp::endpoint tcp;
    if (endpoint.size() > tcp.capacity()) return "?";
    std::memcpy(tcp.data(), endpoint.data(), endpoint.size());
    tcp.resize(endpoint.size());
    return tcp.address().to_string() + ":" + std::to_string(tcp.port());
}

}  // namespace

Acceptor listen_tcp(asio::io_context& io, const std::string& address, std::uint16_t port) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address + ": not an IP address");
    return open_acceptor(io, asio::ip::tcp::endpoint(ip, port), true, address + ":" + std::to_string(port));
}

Acceptor listen_unix(asio::io_context& io, const std::string& directory, std::uint16_t port, unsigned mode) {
    const std::string path = directory + "/.s.PGSQL." + std::to_string(port);
    // A socket file left by a previous run blocks bind; the TCP port (bound first) already
    // proves no other pgsluice serves this port.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    auto acceptor = open_acceptor(io, asio::local::stream_protocol::endpoint(path), false, path);
    // listen.unix_socket_mode: 0777 by default, as PostgreSQL's unix_socket_permissions.
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)
        throw std::runtime_error("cannot set the mode of " + path + ": " + std::strerror(errno));
    return acceptor;
}

awaitable<void> accept_clients(Acceptor& acceptor, ProxyContext& context, std::string name, Workers& workers) {
    auto& io = static_cast<asio::io_context&>(acceptor.get_executor().context());
    const bool tcp = acceptor.local_endpoint().protocol().family() != AF_UNIX;
    LogRateLimit accept_errors(std::chrono::seconds(1));
    while (acceptor.is_open()) {
        auto [ec, accepted] = co_await acceptor.async_accept(workers.next(), asio::as_tuple(use_awaitable));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // EMFILE and friends: back off instead of spinning; existing clients keep working.
            // Out of descriptors this fails ten times a second: one line a second says so.
            if (auto held_back = accept_errors.allow(LogRateLimit::Clock::now()); held_back && *held_back > 0)
                spdlog::error("accept on {} failed: {}; retrying in 100 ms ({} more failures since the last line)",
                              name, ec.message(), *held_back);
            else if (held_back)
                spdlog::error("accept on {} failed: {}; retrying in 100 ms", name, ec.message());
            asio::steady_timer backoff(io, std::chrono::milliseconds(100));
            co_await backoff.async_wait(asio::as_tuple(use_awaitable));
            continue;
        }
        Socket socket(std::move(accepted));  // on its worker's io_context, for its whole life
        if (tcp) {
            boost::system::error_code ignored;
            socket.set_option(asio::ip::tcp::no_delay(true), ignored);
            // Keepalive and TCP_USER_TIMEOUT from the config live now: a reload reaches the
            // clients accepted after it.
            if (auto failed = apply_tcp_options(socket.native_handle(), context.snapshot()->config->tcp); !failed.empty())
                spdlog::debug("client socket options: {}", failed);
        }
        auto executor = socket.get_executor();
        auto peer = peer_name(socket);
        // The session owns its socket; `context` outlives every session (the daemon joins
        // its threads before destroying it).
        asio::co_spawn(executor, serve_client(std::move(socket), context, std::move(peer)), asio::detached);
    }
}

}  // namespace pgsluice::proxy
