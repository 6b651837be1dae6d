// recv and send as bare system calls, for the Transport and OpenSSL's BIO (TlsBio): libc's
// wrappers are thread cancellation points, which switch asynchronous cancellation on and
// off around each call (two atomic operations), and no thread of pgsluice is ever cancelled.
#pragma once

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace pgsluice::proxy {

inline ssize_t recv_direct(int fd, void* data, std::size_t size, int flags) {
    return ::syscall(SYS_recvfrom, fd, data, size, flags, nullptr, nullptr);
}
inline ssize_t send_direct(int fd, const void* data, std::size_t size, int flags) {
    return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
// The last call failed only because the socket had nothing to give or no room.
inline bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

}  // namespace pgsluice::proxy
