// setsockopt for config::TcpOptions.
#include "proxy/io/tcp_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace pgsluice::proxy {

namespace {

std::mutex server_options_mutex;
config::TcpOptions server_options;  // guarded by server_options_mutex

std::string set(int fd, int level, int name, int value, const char* what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) == 0) return {};
    return std::string(what) + ": " + std::strerror(errno);
}

int whole_seconds(config::Duration duration) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

}  // namespace

std::string apply_tcp_options(int fd, const config::TcpOptions& options) {
    std::string failed = set(fd, SOL_SOCKET, SO_KEEPALIVE, options.keepalive ? 1 : 0, "SO_KEEPALIVE");
    auto also = [&failed](std::string error) {
        if (!error.empty()) failed += (failed.empty() ? "" : "; ") + error;
    };
    if (options.keepalive) {
        if (options.keepidle.count() > 0)
            also(set(fd, IPPROTO_TCP, TCP_KEEPIDLE, whole_seconds(options.keepidle), "TCP_KEEPIDLE"));
        if (options.keepintvl.count() > 0)
            also(set(fd, IPPROTO_TCP, TCP_KEEPINTVL, whole_seconds(options.keepintvl), "TCP_KEEPINTVL"));
        if (options.keepcnt > 0)
            also(set(fd, IPPROTO_TCP, TCP_KEEPCNT, static_cast<int>(options.keepcnt), "TCP_KEEPCNT"));
    }
    if (options.user_timeout.count() > 0)
        also(set(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<int>(options.user_timeout.count()), "TCP_USER_TIMEOUT"));
    return failed;
}

void set_server_tcp_options(const config::TcpOptions& options) {
    std::lock_guard lock(server_options_mutex);
    server_options = options;
}

config::TcpOptions server_tcp_options() {
    std::lock_guard lock(server_options_mutex);
    return server_options;
}

}  // namespace pgsluice::proxy
