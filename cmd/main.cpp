// pgsluice's command line: `run` (the default) and `check`. Parsing with CLI11, readiness
// with libsystemd's sd_notify; everything else lives in proxy/ and config/.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <iostream>

#include "config/loader.hpp"
#include "proxy/daemon.hpp"
#include "proxy/logging.hpp"
#include "version.hpp"

namespace {

using pgsluice::config::Diagnostic;

void print_diagnostics(const std::vector<Diagnostic>& diagnostics, std::ostream& out) {
    for (const auto& d : diagnostics) out << d.format() << '\n';
}

int check(const std::string& path) {
    auto result = pgsluice::config::load_config_file(path);
    print_diagnostics(result.diagnostics, std::cout);
    if (!result.ok()) {
        std::size_t errors = 0;
        for (const auto& d : result.diagnostics) errors += d.severity == Diagnostic::Severity::error;
        std::cout << path << ": " << errors << " error(s); the config is not valid\n";
        return 1;
    }
    std::cout << path << ": OK\n";
    return 0;
}

int run(const std::string& path) {
    auto result = pgsluice::config::load_config_file(path);
    print_diagnostics(result.diagnostics, std::cerr);
    if (!result.ok()) {
        std::cerr << path << ": not starting: the config is not valid\n";
        return 1;
    }
    auto config = std::make_shared<const pgsluice::config::Config>(std::move(*result.config));
    pgsluice::proxy::setup_logging(config->log_level, config->log_format);
    spdlog::info("pgsluice {} starting with {}", pgsluice::kVersion, path);
    pgsluice::proxy::DaemonHooks hooks;
    hooks.on_ready = [] { sd_notify(0, "READY=1\nSTATUS=accepting connections"); };
    hooks.on_stopping = [] { sd_notify(0, "STOPPING=1"); };
    return pgsluice::proxy::run_daemon(config, hooks);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"pgsluice: a PostgreSQL connection pooler", "pgsluice"};
    app.set_version_flag("--version", std::string("pgsluice ") + pgsluice::kVersion);
    std::string config_path = "/etc/pgsluice/pgsluice.yaml";
    app.add_option("-c,--config", config_path, "config file (YAML)")->capture_default_str();

    auto* run_command = app.add_subcommand("run", "run the pooler in the foreground (the default)");
    run_command->add_option("-c,--config", config_path, "config file (YAML)");
    auto* check_command = app.add_subcommand("check", "validate a config file; exit 1 when it has errors");
    check_command->add_option("-c,--config", config_path, "config file (YAML)");
    app.require_subcommand(0, 1);

    CLI11_PARSE(app, argc, argv);
    try {
        if (*check_command) return check(config_path);
        return run(config_path);
    } catch (const std::exception& e) {
        std::cerr << "pgsluice: fatal: " << e.what() << '\n';
        return 70;  // EX_SOFTWARE
    }
}
