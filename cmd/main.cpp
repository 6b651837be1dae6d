// pgsluice's command line: `run` (the default), `check` (validate; --diff, --connect) and `health` (ask a running
// pgsluice's /healthz or /ready). Parsing with CLI11, readiness with libsystemd's sd_notify; everything else lives
// in proxy/ and config/.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <time.h>

#include <iostream>

#include "config/backend_demand.hpp"
#include "config/diff.hpp"
#include "config/fd_budget.hpp"
#include "config/loader.hpp"
#include "health.hpp"
#include "proxy/backend/backend_probe.hpp"
#include "proxy/runtime/daemon.hpp"
#include "proxy/runtime/fd_limit.hpp"
#include "proxy/observe/logging.hpp"
#include "proxy/tls/tls_contexts.hpp"
#include "version.hpp"

namespace {

using pgsluice::config::Diagnostic;

void print_diagnostics(const std::vector<Diagnostic>& diagnostics, std::ostream& out) {
    for (const auto& d : diagnostics) out << d.format() << '\n';
}

// Loads and validates, printing the diagnostics; nullopt when the file is not valid.
std::optional<pgsluice::config::Config> load_checked(const std::string& path) {
    auto result = pgsluice::config::load_config_file(path);
    print_diagnostics(result.diagnostics, std::cout);
    if (!result.ok()) {
        std::size_t errors = 0;
        for (const auto& d : result.diagnostics) errors += d.severity == Diagnostic::Severity::error;
        std::cout << path << ": " << errors << " error(s); the config is not valid\n";
        return std::nullopt;
    }
    return std::move(*result.config);
}

// Logs in to every backend and compares the config's worst case with the room it has.
int check_capacity(const pgsluice::config::Config& config, unsigned instances) {
    const auto demands = pgsluice::config::worst_case_connections(config);
    const auto capacities = pgsluice::proxy::probe_backends(config);
    int rc = 0;
    for (const auto& demand : demands) {
        const pgsluice::proxy::BackendCapacity* capacity = nullptr;
        for (const auto& c : capacities)
            if (c.host == demand.host && c.port == demand.port) capacity = &c;
        if (!capacity || !capacity->error.empty()) {
            std::cout << "error: " << demand.address() << ": " << (capacity ? capacity->error : "not probed") << '\n';
            rc = 1;
            continue;
        }
        const auto worst = demand.connections * instances;
        const auto room = capacity->available();
        const std::string arithmetic =
            std::to_string(demand.connections) + " per instance x " + std::to_string(instances) +
            " instance(s) = " + std::to_string(worst) + "; room = max_connections " +
            std::to_string(capacity->max_connections) + " - superuser_reserved_connections " +
            std::to_string(capacity->superuser_reserved_connections) + " - " +
            std::to_string(capacity->other_connections) + " other connection(s) = " + std::to_string(room);
        if (worst > room) {
            std::cout << "error: " << demand.address() << ": this config may open " << worst
                      << " server connections but the server has room for " << room << " (" << arithmetic << ")\n";
            rc = 1;
        } else {
            std::cout << demand.address() << ": OK, at most " << worst << " of " << room
                      << " available server connections (" << arithmetic << ")\n";
        }
        for (const auto& line : demand.arithmetic) std::cout << "  " << line << '\n';
    }
    return rc;
}

int check(const std::string& path, bool connect, unsigned instances) {
    auto config = load_checked(path);
    if (!config) return 1;
    // The certificates, keys and CA files, read as a start or a reload would read them.
    auto tls = pgsluice::proxy::tls::TlsContexts::load(*config);
    for (const auto& error : tls.errors) std::cout << path << ": error: " << error << '\n';
    if (!tls.contexts) {
        std::cout << path << ": " << tls.errors.size() << " TLS error(s); the config is not valid\n";
        return 1;
    }
    // A warning, not an error: the service may run with another limit than this shell.
    if (auto problem = pgsluice::config::fd_budget_problem(pgsluice::config::fd_budget(*config),
                                                           pgsluice::proxy::reachable_fd_limit()))
        std::cout << path << ": warning: " << *problem << " (the limit of this process; pgsluice run raises its soft limit to its hard one)\n";
    std::cout << path << ": OK\n";
    return connect ? check_capacity(*config, instances) : 0;
}

// `check --diff OLD NEW`: what a reload from OLD to NEW would change.
int check_diff(const std::string& old_path, const std::string& new_path) {
    auto before = load_checked(old_path);
    auto after = load_checked(new_path);
    if (!before || !after) return 1;
    const auto changes = pgsluice::config::diff_configs(*before, *after);
    std::size_t restart = 0;
    for (const auto& change : changes) {
        std::cout << change.format() << '\n';
        restart += change.needs_restart;
    }
    std::cout << changes.size() << " change(s)";
    if (restart) std::cout << ", " << restart << " of them need a restart";
    std::cout << '\n';
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
    const auto fds = pgsluice::proxy::raise_fd_limit();
    if (!fds.error.empty())
        spdlog::warn("could not raise the open file limit from {} to {}: {}", fds.before, fds.hard, fds.error);
    else if (fds.soft != fds.before)
        spdlog::info("open file limit raised from {} to {}", fds.before, fds.soft);
    if (auto problem = pgsluice::config::fd_budget_problem(pgsluice::config::fd_budget(*config), fds.soft))
        spdlog::warn("{}", *problem);
    pgsluice::proxy::DaemonHooks hooks;
    hooks.on_ready = [] { sd_notify(0, "READY=1"); };
    hooks.on_reloading = [] {
        // Type=notify-reload wants the reload's start time with RELOADING=1.
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL + now.tv_nsec / 1000;
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
    };
    hooks.on_stopping = [] { sd_notify(0, "STOPPING=1"); };
    hooks.on_status = [](const std::string& line) { sd_notifyf(0, "STATUS=%s", line.c_str()); };
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
    std::vector<std::string> diff_paths;
    check_command->add_option("--diff", diff_paths, "OLD NEW: print what a reload from OLD to NEW changes")
        ->expected(2);
    bool connect = false;
    check_command->add_flag("--connect", connect,
                            "log in to every backend and check its max_connections against this config's worst case");
    unsigned instances = 1;
    check_command->add_option("--instances", instances, "pgsluice instances sharing the backends (with --connect)")
        ->check(CLI::Range(1u, 10000u));
    auto* health_command =
        app.add_subcommand("health", "ask a running pgsluice's metrics listener for /healthz; exit 0 when it answers 200");
    pgsluice::cmd::HealthProbe probe;
    health_command->add_option("--address", probe.address, "the metrics listener's address (0.0.0.0: loopback)")
        ->envname("PGSLUICE_METRICS_ADDRESS")
        ->capture_default_str();
    health_command->add_option("--port", probe.port, "the metrics listener's port")
        ->envname("PGSLUICE_METRICS_PORT")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str();
    bool ready = false;
    health_command->add_flag("--ready", ready, "ask /ready instead (200 once the listeners accept clients)");
    app.require_subcommand(0, 1);

    CLI11_PARSE(app, argc, argv);
    try {
        if (*check_command && !diff_paths.empty()) return check_diff(diff_paths[0], diff_paths[1]);
        if (*check_command) return check(config_path, connect, instances);
        if (*health_command) {
            if (ready) probe.path = "/ready";
            return pgsluice::cmd::check_health(probe);
        }
        return run(config_path);
    } catch (const std::exception& e) {
        std::cerr << "pgsluice: fatal: " << e.what() << '\n';
        return 70;  // EX_SOFTWARE
    }
}
