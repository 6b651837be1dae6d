// Client settings, and the statements that bring a server in line with them.
#include "proxy/backend/session_settings.hpp"

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

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out.push_back(c);
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

// The statement that gives `setting` its value on a server.
std::string statement_for(const ClientSetting& setting) {
    if (setting.sql) return "SET " + quote_identifier(setting.name) + " TO " + setting.value + ";";
    // set_config() parses the string as a startup option is parsed: "-c search_path=a,b"
    // means two schemas, where SET search_path TO 'a,b' would mean one named "a,b".
    return "SELECT pg_catalog.set_config(" + quote_literal(setting.name) + ", " + quote_literal(setting.value) +
           ", false);";
}

// Undoes whatever any earlier client did to the session's settings and identity.
constexpr std::string_view kRestore = "SET SESSION AUTHORIZATION DEFAULT;RESET ALL;";

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

const ClientSetting* ClientSettings::find(std::string_view name) const {
    for (const auto& setting : values())
        if (iequals(setting.name, name)) return &setting;
    return nullptr;
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
    for (auto& setting : settings.writable()) {
        if (!is_setting_name(setting.name)) {
            refusal = "invalid startup parameter name \"" + setting.name + "\"";
            return settings;
        }
        setting.startup_value = setting.value;
    }
    return settings;
}

void ClientSettings::assign(const std::string& name, const std::string& value, bool sql) {
    if (const auto* have = find(name); have && have->sql == sql && have->value == value) return;  // nothing to copy
    auto& values = writable();
    for (auto& setting : values) {
        if (iequals(setting.name, name)) {
            setting.value = value;
            setting.sql = sql;
            return;
        }
    }
    values.push_back({name, value, sql, std::nullopt});
}

void ClientSettings::reset(std::string_view name) {
    const auto* have = find(name);
    if (!have) return;
    auto& values = writable();
    for (auto it = values.begin(); it != values.end(); ++it) {
        if (!iequals(it->name, name)) continue;
        if (it->startup_value) {
            it->value = *it->startup_value;
            it->sql = false;
        } else {
            values.erase(it);
        }
        return;
    }
}

void ClientSettings::reset_all_unreported(const ServerConnection& server) {
    std::vector<std::string> names;
    for (const auto& setting : values())
        if (!server.reported(setting.name)) names.push_back(setting.name);
    for (const auto& name : names) reset(name);
}

void ClientSettings::fill_defaults(const ServerConnection& server) {
    // The parameters PostgreSQL reports (GUC_REPORT) that a session can change; the
    // read-only ones (server_version, integer_datetimes, ...) need no tracking.
    static const char* const kTracked[] = {"application_name",         "client_encoding", "DateStyle",
                                           "IntervalStyle",            "TimeZone",        "standard_conforming_strings",
                                           "default_transaction_read_only"};
    auto& values = writable();
    values.reserve(values.size() + std::size(kTracked));
    for (const char* name : kTracked) {
        bool set_by_client = false;
        for (const auto& setting : values) set_by_client |= iequals(setting.name, name);
        if (set_by_client) continue;
        auto it = server.login_parameters().find(name);
        if (it == server.login_parameters().end()) continue;  // a server that does not report it
        values.push_back({name, it->second, false, std::nullopt});
    }
    values.shrink_to_fit();
    defaults_filled_ = true;
}

void ClientSettings::adopt_server_spelling(const ServerConnection& server) {
    for (const auto& setting : values())
        if (const auto* reported = server.reported(setting.name); reported && *reported != setting.value) {
            for (auto& writable_setting : writable())
                if (const auto* spelled = server.reported(writable_setting.name)) {
                    writable_setting.value = *spelled;
                    writable_setting.sql = false;
                }
            return;
        }
}

awaitable<std::optional<protocol::ErrorFields>> apply_settings(ServerConnection& server, const ClientSettings& settings) {
    // The common case under load: the server last served a client with these very values and
    // has reported no change since. Nothing to compare.
    if (server.in_sync_with(settings.shared_values())) co_return std::nullopt;
    const bool restore = server.needs_restore();
    std::string sql = restore ? std::string(kRestore) : std::string();
    // What the server has now (after the restore, what it had at login).
    auto has = [&](const ClientSetting& setting) {
        const auto* reported = restore ? server.login_parameter(setting.name) : server.reported(setting.name);
        if (reported) return !setting.sql && *reported == setting.value;
        if (restore) return false;
        const auto* applied = server.applied(setting.name);
        return applied && applied->value == setting.value && applied->sql == setting.sql;
    };
    std::vector<const ClientSetting*> changed;
    for (const auto& setting : settings.values()) {
        if (has(setting)) continue;
        sql += statement_for(setting);
        changed.push_back(&setting);
    }
    // What an earlier client set that this one did not ask for goes back to the default.
    std::vector<std::string> leftovers;
    if (!restore)
        for (const auto& [name, applied] : server.applied_settings())
            if (!settings.find(name)) {
                sql += "RESET " + quote_identifier(name) + ";";
                leftovers.push_back(name);
            }
    if (sql.empty()) {
        server.mark_in_sync(settings.shared_values());
        co_return std::nullopt;
    }
    auto error = co_await server.run_simple_query(sql);
    if (error) co_return error;
    if (restore) server.restored();
    for (const auto& name : leftovers) server.forget_applied(name);
    // Parameters the server does not report back are remembered as we set them.
    for (const auto* setting : changed)
        if (!server.reported(setting->name)) server.remember_applied(setting->name, {setting->value, setting->sql});
    server.mark_in_sync(settings.shared_values());
    co_return std::nullopt;
}

void settle_session_change(const protocol::SetStatement& change, ClientSettings& settings, ServerConnection& server) {
    using Kind = protocol::SetStatement::Kind;
    switch (change.kind) {
        case Kind::set:
            // A reported parameter's new value came in a ParameterStatus already.
            if (server.reported(change.name)) return;
            settings.set_sql(change.name, change.value_sql);
            server.remember_applied(change.name, {change.value_sql, true});
            return;
        case Kind::reset:
            if (server.reported(change.name)) return;
            settings.reset(change.name);
            server.forget_applied(change.name);  // the server is at its default now
            return;
        case Kind::reset_all:
            settings.reset_all_unreported(server);
            server.forget_all_applied();
            return;
        case Kind::transaction: return;
    }
}

}  // namespace pgsluice::proxy
