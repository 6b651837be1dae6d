// The running pgsluice: worker threads around one io_context, the listeners, signals,
// reload and the shutdown drain.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config/config.hpp"

namespace pgsluice::proxy {

struct DaemonHooks {
    std::function<void()> on_ready;       // listeners are up, or a reload finished (systemd READY=1)
    std::function<void()> on_reloading;   // a reload begins (systemd RELOADING=1)
    std::function<void()> on_stopping;    // shutdown began (systemd STOPPING=1)
    std::function<void(const std::string&)> on_status;  // one line of state (systemd STATUS=)
};

// Runs until SIGTERM (after draining), a second SIGTERM or SIGINT. Returns the exit code.
// SIGHUP reloads config->source_file.
int run_daemon(std::shared_ptr<const config::Config> config, const DaemonHooks& hooks);

}  // namespace pgsluice::proxy
