// The admin console's command language, parsed without touching anything: a query string in,
// commands (or a syntax error with a hint) out. Keywords are case-insensitive; a trailing
// semicolon is optional; one query may carry several commands separated by semicolons.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsluice::proxy {

enum class AdminVerb {  // the SHOW verbs first: the console logs them quietly
    show_help,
    show_pools,
    show_stats,
    show_stats_totals,
    show_stats_averages,
    show_clients,
    show_servers,
    show_databases,
    show_users,
    show_config,
    show_lists,
    show_version,
    pause,
    resume,
    reconnect,
    kill,
    wait_close,
    reload,
    shutdown,
};

struct AdminCommand {
    AdminVerb verb;
    std::string database;  // empty: every database (for the verbs that take one)
    bool operator==(const AdminCommand&) const = default;
};

struct AdminSyntaxError {
    std::string message;
    std::string hint;
};

// The statements of one simple Query, split at semicolons; blank ones are dropped.
std::vector<std::string_view> split_admin_statements(std::string_view sql);

std::variant<AdminCommand, AdminSyntaxError> parse_admin_command(std::string_view statement);

// One line per command, for SHOW HELP and the hint of a syntax error.
const std::vector<std::string>& admin_command_summary();

}  // namespace pgsluice::proxy
