// Startup parameters -> SET statements.
#include "proxy/session_settings.hpp"

#include <algorithm>
#include <cctype>

#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy {

namespace {

bool is_setting_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.'; });
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

// E'...' is read the same whatever standard_conforming_strings says.
std::string quote_literal(std::string_view value) {
    std::string out = "E'";
    for (char c : value) {
        if (c == '\'' || c == '\\') out.push_back(c);
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

}  // namespace

ClientSettings client_settings(const protocol::StartupMessage& startup) {
    ClientSettings settings;
    for (const auto& [name, value] : startup.parameters) {
        if (name == "user" || name == "database" || name.starts_with("_pq_.")) continue;
        if (name == "replication") {
            settings.error = "pgsluice does not proxy replication connections";
            return settings;
        }
        if (name == "options") {
            auto options = protocol::parse_startup_options(value);
            if (!options) {
                settings.error = "unsupported startup option in \"options\": only -c name=value settings are supported";
                return settings;
            }
            for (auto& option : *options) settings.values.push_back(std::move(option));
            continue;
        }
        settings.values.emplace_back(name, value);
    }
    for (const auto& [name, value] : settings.values) {
        if (!is_setting_name(name)) {
            settings.error = "invalid startup parameter name \"" + name + "\"";
            return settings;
        }
    }
    return settings;
}

awaitable<std::optional<protocol::ErrorFields>> apply_settings(
    ServerConnection& server, const std::vector<std::pair<std::string, std::string>>& values) {
    std::string sql;
    for (const auto& [name, value] : values) {
        bool already = false;
        for (const auto& [have_name, have_value] : server.parameters())
            if (iequals(have_name, name) && have_value == value) already = true;
        if (already) continue;
        sql += "SET " + name + " TO " + quote_literal(value) + ";";
    }
    if (sql.empty()) co_return std::nullopt;
    co_return co_await server.run_simple_query(sql);
}

}  // namespace pgsluice::proxy
