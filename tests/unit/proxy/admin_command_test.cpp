// The admin console's command parser: case, semicolons, database names, and the errors
// (with a hint listing the commands) for everything else.
#include <catch2/catch.hpp>

#include "proxy/admin/admin_command.hpp"

using namespace pgsluice::proxy;

namespace {
AdminCommand command(std::string_view text) {
    auto parsed = parse_admin_command(text);
    REQUIRE(std::holds_alternative<AdminCommand>(parsed));
    return std::get<AdminCommand>(parsed);
}
AdminSyntaxError syntax_error(std::string_view text) {
    auto parsed = parse_admin_command(text);
    REQUIRE(std::holds_alternative<AdminSyntaxError>(parsed));
    return std::get<AdminSyntaxError>(parsed);
}
}  // namespace

TEST_CASE("SHOW commands are recognised in any case", "[unit][admin]") {
    CHECK(command("SHOW POOLS") == AdminCommand{AdminVerb::show_pools, ""});
    CHECK(command("show pools") == AdminCommand{AdminVerb::show_pools, ""});
    CHECK(command("  Show\tStats  ") == AdminCommand{AdminVerb::show_stats, ""});
    CHECK(command("show stats_totals").verb == AdminVerb::show_stats_totals);
    CHECK(command("SHOW clients").verb == AdminVerb::show_clients);
    CHECK(command("SHOW SERVERS").verb == AdminVerb::show_servers);
    CHECK(command("SHOW DATABASES").verb == AdminVerb::show_databases);
    CHECK(command("SHOW USERS").verb == AdminVerb::show_users);
    CHECK(command("SHOW CONFIG").verb == AdminVerb::show_config);
    CHECK(command("SHOW LISTS").verb == AdminVerb::show_lists);
    CHECK(command("SHOW VERSION").verb == AdminVerb::show_version);
    CHECK(command("SHOW HELP").verb == AdminVerb::show_help);
}

TEST_CASE("control commands take an optional or a required database name as typed", "[unit][admin]") {
    CHECK(command("PAUSE") == AdminCommand{AdminVerb::pause, ""});
    CHECK(command("pause App") == AdminCommand{AdminVerb::pause, "App"});
    CHECK(command("RESUME app") == AdminCommand{AdminVerb::resume, "app"});
    CHECK(command("reconnect") == AdminCommand{AdminVerb::reconnect, ""});
    CHECK(command("KILL app") == AdminCommand{AdminVerb::kill, "app"});
    CHECK(command("wait_close \"my db\"") == AdminCommand{AdminVerb::wait_close, "my db"});
    CHECK(command("RELOAD") == AdminCommand{AdminVerb::reload, ""});
    CHECK(command("shutdown") == AdminCommand{AdminVerb::shutdown, ""});
}

TEST_CASE("a query splits into statements at semicolons, with or without a trailing one", "[unit][admin]") {
    CHECK(split_admin_statements("SHOW POOLS;") == std::vector<std::string_view>{"SHOW POOLS"});
    CHECK(split_admin_statements("SHOW POOLS") == std::vector<std::string_view>{"SHOW POOLS"});
    CHECK(split_admin_statements("show pools; show stats ;").size() == 2);
    CHECK(split_admin_statements("  ;  ; ").empty());
    CHECK(split_admin_statements("").empty());
    CHECK(split_admin_statements("PAUSE \"a;b\"") == std::vector<std::string_view>{"PAUSE \"a;b\""});
}

TEST_CASE("unknown or malformed commands are syntax errors with a hint listing the commands", "[unit][admin]") {
    auto e = syntax_error("SELECT 1");
    CHECK(e.message.find("SELECT") != std::string::npos);
    CHECK(e.hint.find("SHOW") != std::string::npos);
    CHECK(e.hint.find("PAUSE [db]") != std::string::npos);
    CHECK(syntax_error("SHOW NOTHING").message.find("NOTHING") != std::string::npos);
    CHECK(syntax_error("SHOW").message.find("SHOW") != std::string::npos);
    CHECK(syntax_error("SHOW POOLS extra").message.find("one word") != std::string::npos);
    CHECK(syntax_error("KILL").message.find("needs a database") != std::string::npos);
    CHECK(syntax_error("RELOAD now").message.find("no argument") != std::string::npos);
    CHECK(syntax_error("PAUSE a b").message.find("at most one") != std::string::npos);
    CHECK(syntax_error("PAUSE \"open").message.find("unterminated") != std::string::npos);
}
