// Reload: load -> diff -> keep the restart-only keys as they run -> swap -> apply.
#include "proxy/runtime/reload.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "config/diff.hpp"
#include "config/loader.hpp"

namespace pgsluice::proxy {

namespace {

// Keys the daemon bound or sized at startup keep their running values in the new snapshot,
// so that what it reports (SHOW CONFIG, metrics) is what it does.
void keep_restart_only_keys(config::Config& next, const config::Config& running) {
    next.listen = running.listen;
    next.workers = running.workers;
    next.metrics = running.metrics;
    next.log_format = running.log_format;
}

}  // namespace

bool reload_config(ProxyContext& context, const std::string& path, std::string& report) {
    // SIGHUP, the admin console's RELOAD and watch_config may race; one reload at a time.
    static std::mutex reload_mutex;
    std::lock_guard lock(reload_mutex);
    report.clear();

    auto result = config::load_config_file(path);
    for (const auto& d : result.diagnostics) {
        if (d.severity == config::Diagnostic::Severity::error) {
            spdlog::error("{}", d.format());
            report += d.format() + "\n";
        } else {
            spdlog::warn("{}", d.format());
        }
    }
    if (!result.ok()) {
        spdlog::error("reload failed, keeping the old config");
        report += "reload failed, keeping the old config";
        ++context.reloads_failed;
        return false;
    }

    // Certificates and keys are read again even when their paths did not change: that is
    // how a rotated certificate gets in. One that fails keeps the old ones serving.
    auto tls = tls::TlsContexts::load(*result.config);
    if (!tls.contexts) {
        for (const auto& error : tls.errors) {
            spdlog::error("reload: {}", error);
            report += error + "\n";
        }
        spdlog::error("reload failed, keeping the old config and certificates");
        report += "reload failed, keeping the old config and certificates";
        ++context.reloads_failed;
        return false;
    }

    const auto running = context.snapshot()->config;
    auto next = std::move(*result.config);
    const auto changes = config::diff_configs(*running, next);
    keep_restart_only_keys(next, *running);

    std::string applied;
    std::size_t applied_count = 0;
    for (const auto& change : changes) {
        if (change.needs_restart) {
            spdlog::warn("reload: {}: {}: needs a restart, not applied", change.path, change.description);
            continue;
        }
        applied += (applied_count++ ? "; " : "") + change.path + ": " + change.description;
    }
    if (next.log_level != running->log_level) spdlog::set_level(spdlog::level::from_str(next.log_level));
    context.replace_config(std::make_shared<const config::Config>(std::move(next)), std::move(tls.contexts));
    ++context.reloads_ok;

    if (applied_count == 0)
        report = "config reloaded from " + path + ": no changes applied";
    else
        report = "config reloaded from " + path + ": " + std::to_string(applied_count) + " change(s): " + applied;
    if (applied_count != changes.size())
        report += " (" + std::to_string(changes.size() - applied_count) + " change(s) need a restart)";
    spdlog::info("{}", report);
    return true;
}

}  // namespace pgsluice::proxy
