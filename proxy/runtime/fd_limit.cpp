// Raising RLIMIT_NOFILE (see fd_limit.hpp).
#include "proxy/runtime/fd_limit.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace pgsluice::proxy {

namespace {

// The most descriptors one process may have (fs.nr_open): setrlimit refuses more.
rlim_t nr_open() {
    std::ifstream in("/proc/sys/fs/nr_open");
    unsigned long long value = 0;
    if (in >> value && value > 0) return static_cast<rlim_t>(value);
    return 1048576;
}

}  // namespace

std::uint64_t reachable_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    return limit.rlim_max == RLIM_INFINITY ? nr_open() : limit.rlim_max;
}

FdLimit raise_fd_limit() {
    FdLimit result;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.error = std::strerror(errno);
        return result;
    }
    result.before = result.soft = limit.rlim_cur;
    result.hard = limit.rlim_max;
    rlim_t target = limit.rlim_max == RLIM_INFINITY ? nr_open() : limit.rlim_max;
    if (target <= limit.rlim_cur) return result;
    limit.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.error = std::strerror(errno);
        return result;
    }
    result.soft = target;
    return result;
}

}  // namespace pgsluice::proxy
