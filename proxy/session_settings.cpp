// Startup parameters -> SET statements.
#include "proxy/session_settings.hpp"

#include <algorithm>
#include <cctype>

namespace pgsluice::proxy {

namespace {

bool is_setting_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.'; });
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

const ClientSettings::Values ClientSettings::kNone;

ClientSettings::Values& ClientSettings::writable() {
    if (!values_) {
        values_ = std::make_shared<Values>();
    } else if (values_.use_count() > 1) {
        values_ = std::make_shared<Values>(*values_);
    }
    // Only this client holds it now, and it was made non-const: the cast is sound.
    return const_cast<Values&>(*values_);
}

void ClientSettings::share(Interner<Values>& interner) {
    if (values_) values_ = interner.intern(std::move(values_));
}

ClientSettings ClientSettings::from_startup(const protocol::StartupMessage& startup, std::string& refusal) {
    ClientSettings settings;
    for (const auto& [name, value] : startup.parameters) {
        if (name == "user" || name == "database" || name.starts_with("_pq_.")) continue;
        if (name == "replication") {
            refusal = "pgsluice does not proxy replication connections";
            return settings;
        }
        if (name == "options") {
            auto options = protocol::parse_startup_options(value);
            if (!options) {
                refusal = "unsupported startup option in \"options\": only -c name=value settings are supported";
                return settings;
            }
            for (auto& [option_name, option_value] : *options) settings.observe(option_name, option_value);
            continue;
        }
        settings.observe(name, value);
    }
    for (const auto& [name, value] : settings.values()) {
        if (!is_setting_name(name)) {
            refusal = "invalid startup parameter name \"" + name + "\"";
            return settings;
        }
    }
    return settings;
}

void ClientSettings::observe(const std::string& name, const std::string& value) {
    for (const auto& [have_name, have_value] : values()) {
        if (iequals(have_name, name) && have_value == value) return;  // nothing to copy
    }
    auto& values = writable();
    for (auto& [have_name, have_value] : values) {
        if (iequals(have_name, name)) {
            have_value = value;
            return;
        }
    }
    values.emplace_back(name, value);
}

void ClientSettings::fill_defaults(const ServerConnection& server) {
    // The parameters PostgreSQL reports (GUC_REPORT) that a session can change; the
    // read-only ones (server_version, integer_datetimes, ...) need no tracking.
    static const char* const kTracked[] = {"application_name", "client_encoding", "DateStyle",
                                           "IntervalStyle", "TimeZone", "standard_conforming_strings"};
    auto& values = writable();
    values.reserve(values.size() + std::size(kTracked));
    for (const char* name : kTracked) {
        bool set_by_client = false;
        for (const auto& [have_name, value] : values) set_by_client |= iequals(have_name, name);
        if (set_by_client) continue;
        auto it = server.login_parameters().find(name);
        values.emplace_back(name, it != server.login_parameters().end() ? it->second : std::string());
    }
    values.shrink_to_fit();
    defaults_filled_ = true;
}

void ClientSettings::adopt_server_spelling(const ServerConnection& server) {
    for (const auto& [name, value] : values())
        if (const auto* reported = server.parameter(name); reported && *reported != value) {
            for (auto& [writable_name, writable_value] : writable())
                if (const auto* spelled = server.parameter(writable_name)) writable_value = *spelled;
            return;
        }
}

awaitable<std::optional<protocol::ErrorFields>> apply_settings(ServerConnection& server, const ClientSettings& settings) {
    // The common case under load: the server last served a client with these very values and
    // has reported no change since. Nothing to compare.
    if (server.in_sync_with(settings.shared_values())) co_return std::nullopt;
    std::string sql;
    std::vector<const std::pair<std::string, std::string>*> changed;
    for (const auto& entry : settings.values()) {
        const auto* have = server.parameter(entry.first);
        if (have && *have == entry.second) continue;
        sql += "SET " + entry.first + " TO " + quote_literal(entry.second) + ";";
        changed.push_back(&entry);
    }
    if (sql.empty()) {
        server.mark_in_sync(settings.shared_values());
        co_return std::nullopt;
    }
    auto error = co_await server.run_simple_query(sql);
    if (!error) {
        // Parameters the server does not report back are remembered as we set them.
        for (const auto* entry : changed)
            if (!server.parameter(entry->first)) server.remember_applied(entry->first, entry->second);
        server.mark_in_sync(settings.shared_values());
    }
    co_return error;
}

}  // namespace pgsluice::proxy
