// Blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO: a test's scrape never hangs.
#include "harness/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

namespace harness {

HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout) {
    HttpResponse response;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return response;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        // HTTP/1.0 and Connection: close: the reply ends at EOF, never chunked.
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            char chunk[4096];
            ssize_t n;
            while ((n = ::recv(fd, chunk, sizeof chunk, 0)) > 0) reply.append(chunk, static_cast<std::size_t>(n));
            if (n < 0) reply.clear();  // timed out: an incomplete reply is no reply
        }
    }
    ::close(fd);
    // "HTTP/1.x NNN reason\r\n...headers...\r\n\r\nbody"
    const auto header_end = reply.find("\r\n\r\n");
    if (reply.rfind("HTTP/", 0) != 0 || header_end == std::string::npos) return response;
    const auto space = reply.find(' ');
    if (space == std::string::npos || space + 4 > reply.size()) return response;
    response.status = std::stoi(reply.substr(space + 1, 3));
    response.body = reply.substr(header_end + 4);
    return response;
}

std::optional<double> sample(const std::string& exposition, const std::string& name,
                             const std::vector<std::string>& labels) {
    std::optional<double> sum;
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto name_end = line.find_first_of("{ ");
        if (name_end == std::string::npos || line.compare(0, name_end, name) != 0 || name_end != name.size()) continue;
        std::string label_text;
        auto value_at = name_end;
        if (line[name_end] == '{') {
            const auto close = line.find('}', name_end);
            if (close == std::string::npos) continue;
            label_text = line.substr(name_end + 1, close - name_end - 1);
            value_at = close + 1;
        }
        bool matches = true;
        for (const auto& label : labels) {
            // Anchored at a label boundary, so user="app" does not match user="myapp".
            const bool first = label_text.rfind(label, 0) == 0;
            matches = matches && (first || label_text.find("," + label) != std::string::npos);
        }
        if (!matches) continue;
        try {
            sum = sum.value_or(0) + std::stod(line.substr(value_at));
        } catch (const std::exception&) {
        }
    }
    return sum;
}

}  // namespace harness
