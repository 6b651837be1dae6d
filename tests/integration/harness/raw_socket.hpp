// A raw TCP connection to a port on the loopback, for tests that speak bytes pgsluice must
// survive (or that stop in the middle of a login), where libpq would not send them.
#pragma once

#include <string>

namespace harness {

// A connected socket with a 10 s receive timeout (no read waits forever), or -1.
int connect_loopback(int port);
// Sends all of `bytes`; stops quietly when the peer closed (what it said before is what
// the test reads).
void send_all(int fd, const std::string& bytes);
// Everything the peer sends until it closes (bounded by the receive timeout).
std::string read_until_close(int fd);
// connect_loopback() for a test that cannot go on without the connection (Catch2 REQUIRE).
int connect_loopback_or_fail(int port);

}  // namespace harness
