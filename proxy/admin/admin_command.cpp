// Parsing admin console commands: words, keywords compared case-insensitively, a database
// name as typed (or double-quoted).
#include "proxy/admin/admin_command.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

namespace pgsluice::proxy {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string upper(std::string_view word) {
    std::string out(word);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// Splits at whitespace; a double-quoted word keeps its spaces and loses its quotes ("" is a quote).
// nullopt when a quote is not closed.
std::optional<std::vector<std::string>> words(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (is_space(text[i])) {
            ++i;
            continue;
        }
        std::string word;
        if (text[i] == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        word.push_back('"');
                        i += 2;
                        continue;
                    }
                    closed = true;
                    ++i;
                    break;
                }
                word.push_back(text[i++]);
            }
            if (!closed) return std::nullopt;
        } else {
            while (i < text.size() && !is_space(text[i])) word.push_back(text[i++]);
        }
        out.push_back(std::move(word));
    }
    return out;
}

AdminSyntaxError syntax_error(std::string message) {
    std::string hint = "Commands: ";
    const auto& summary = admin_command_summary();
    for (std::size_t i = 0; i < summary.size(); ++i) hint += (i ? "; " : "") + summary[i];
    return {std::move(message), hint};
}

const std::vector<std::pair<std::string, AdminVerb>>& show_targets() {
    static const std::vector<std::pair<std::string, AdminVerb>> targets = {
        {"HELP", AdminVerb::show_help},           {"POOLS", AdminVerb::show_pools},
        {"STATS", AdminVerb::show_stats},         {"STATS_TOTALS", AdminVerb::show_stats_totals},
        {"STATS_AVERAGES", AdminVerb::show_stats_averages},
        {"CLIENTS", AdminVerb::show_clients},     {"SERVERS", AdminVerb::show_servers},
        {"DATABASES", AdminVerb::show_databases}, {"USERS", AdminVerb::show_users},
        {"CONFIG", AdminVerb::show_config},       {"LISTS", AdminVerb::show_lists},
        {"VERSION", AdminVerb::show_version},
    };
    return targets;
}

}  // namespace

const std::vector<std::string>& admin_command_summary() {
    static const std::vector<std::string> summary = {
        "SHOW HELP|POOLS|STATS|STATS_TOTALS|STATS_AVERAGES|CLIENTS|SERVERS|DATABASES|USERS|CONFIG|LISTS|VERSION",
        "PAUSE [db]",
        "RESUME [db]",
        "RECONNECT [db]",
        "KILL db",
        "WAIT_CLOSE [db]",
        "RELOAD",
        "SHUTDOWN",
    };
    return summary;
}

std::vector<std::string_view> split_admin_statements(std::string_view sql) {
    std::vector<std::string_view> out;
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= sql.size(); ++i) {
        if (i < sql.size() && sql[i] == '"') quoted = !quoted;
        if (i == sql.size() || (sql[i] == ';' && !quoted)) {
            auto piece = sql.substr(start, i - start);
            if (std::any_of(piece.begin(), piece.end(), [](char c) { return !is_space(c); })) out.push_back(piece);
            start = i + 1;
        }
    }
    return out;
}

std::variant<AdminCommand, AdminSyntaxError> parse_admin_command(std::string_view statement) {
    auto parsed = words(statement);
    if (!parsed) return syntax_error("unterminated quoted name in \"" + std::string(statement) + "\"");
    const auto& w = *parsed;
    if (w.empty()) return syntax_error("empty command");
    const auto verb = upper(w[0]);

    if (verb == "SHOW") {
        if (w.size() != 2) return syntax_error("SHOW takes one word, e.g. SHOW POOLS");
        const auto target = upper(w[1]);
        for (const auto& [name, show] : show_targets())
            if (name == target) return AdminCommand{show, {}};
        return syntax_error("unknown SHOW command \"" + w[1] + "\"");
    }

    struct Takes {
        const char* name;
        AdminVerb verb;
        enum { none, optional_db, required_db } argument;
    };
    static const Takes kVerbs[] = {
        {"PAUSE", AdminVerb::pause, Takes::optional_db},         {"RESUME", AdminVerb::resume, Takes::optional_db},
        {"RECONNECT", AdminVerb::reconnect, Takes::optional_db}, {"KILL", AdminVerb::kill, Takes::required_db},
        {"WAIT_CLOSE", AdminVerb::wait_close, Takes::optional_db}, {"RELOAD", AdminVerb::reload, Takes::none},
        {"SHUTDOWN", AdminVerb::shutdown, Takes::none},
    };
    for (const auto& takes : kVerbs) {
        if (verb != takes.name) continue;
        if (takes.argument == Takes::none && w.size() > 1)
            return syntax_error(std::string(takes.name) + " takes no argument");
        if (takes.argument != Takes::none && w.size() > 2)
            return syntax_error(std::string(takes.name) + " takes at most one database name");
        if (takes.argument == Takes::required_db && w.size() < 2)
            return syntax_error(std::string(takes.name) + " needs a database name, e.g. " + takes.name + " app");
        return AdminCommand{takes.verb, w.size() == 2 ? w[1] : std::string()};
    }
    return syntax_error("unknown admin command \"" + w[0] + "\"");
}

}  // namespace pgsluice::proxy
