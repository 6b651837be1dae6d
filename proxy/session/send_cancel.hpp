// A CancelRequest sent to PostgreSQL on a connection of its own, for a client's query
// (the client's CancelRequest, or query_timeout).
#pragma once

#include <string>

#include "proxy/asio.hpp"
#include "proxy/session/cancel_registry.hpp"

namespace pgsluice::proxy {

// Opens a connection to the server and sends it a CancelRequest for `target`'s backend.
// Everything it uses is a parameter taken by value, so it lives in the coroutine's frame: the
// query_timeout watchdog starts it detached, and the session may have moved on or ended
// before it runs.
awaitable<void> send_cancel(Executor executor, CancelTarget target, std::string who);

}  // namespace pgsluice::proxy
