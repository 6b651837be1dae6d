// The admin console: what a client of database "pgbouncer" (or "pgsluice") gets after login
// when it is one of admin.users. Simple query protocol only; commands in admin_command.hpp,
// tables in admin_views.hpp.
#pragma once

#include <string>
#include <string_view>

#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

bool is_admin_database(std::string_view database);

// Runs after AuthenticationOk was sent: ParameterStatus, ReadyForQuery, then commands until
// the client leaves. Returns the reason the session ended, for its log line. `show_only`:
// a stats user (admin.stats_users), refused anything but the SHOW commands.
awaitable<std::string> serve_admin_console(Transport& client, ProxyContext& context, const std::string& who,
                                           bool show_only = false);

}  // namespace pgsluice::proxy
