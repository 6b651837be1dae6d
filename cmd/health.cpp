// An HTTP/1.0 GET bounded by a deadline: connect, write, read to EOF on one io_context that
// runs at most `timeout`. Enough for /healthz and /ready; no HTTP library needed.
#include "health.hpp"

#include <boost/asio.hpp>

#include <iostream>

namespace pgsluice::cmd {

namespace asio = boost::asio;

namespace {

// "HTTP/1.1 200 OK" -> 200; 0 when the reply has no status line.
int status_of(const std::string& reply) {
    if (!reply.starts_with("HTTP/")) return 0;
    const auto space = reply.find(' ');
    if (space == std::string::npos) return 0;
    try {
        return std::stoi(reply.substr(space + 1, 3));
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace

int check_health(const HealthProbe& probe) {
    std::string host = probe.address;
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    const std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                            std::to_string(probe.port) + probe.path;

    boost::system::error_code parse_error;
    const auto ip = asio::ip::make_address(host, parse_error);
    if (parse_error) {
        std::cerr << "pgsluice health: " << host << " is not an IP address\n";
        return 1;
    }
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    const std::string request = "GET " + probe.path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    std::string reply;
    boost::system::error_code failure;
    bool done = false;
    socket.async_connect({ip, static_cast<unsigned short>(probe.port)}, [&](boost::system::error_code ec) {
        if (ec) {
            failure = ec;
            done = true;
            return;
        }
        asio::async_write(socket, asio::buffer(request), [&](boost::system::error_code ec, std::size_t) {
            if (ec) {
                failure = ec;
                done = true;
                return;
            }
            asio::async_read(socket, asio::dynamic_buffer(reply), [&](boost::system::error_code ec, std::size_t) {
                if (ec && ec != asio::error::eof) failure = ec;
                done = true;
            });
        });
    });
    io.run_for(probe.timeout);
    if (!done) {
        std::cerr << url << ": no answer within " << probe.timeout.count() << " ms\n";
        return 1;
    }
    if (failure) {
        std::cerr << url << ": " << failure.message() << '\n';
        return 1;
    }
    const int status = status_of(reply);
    const auto body_at = reply.find("\r\n\r\n");
    std::string body = body_at == std::string::npos ? "" : reply.substr(body_at + 4);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    (status == 200 ? std::cout : std::cerr) << url << ": " << status << ' ' << body << '\n';
    return status == 200 ? 0 : 1;
}

}  // namespace pgsluice::cmd
