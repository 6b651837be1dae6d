// The running pgsluice: worker threads around one io_context, the listeners, signals.
#pragma once

#include <functional>
#include <memory>

#include "config/config.hpp"

namespace pgsluice::proxy {

struct DaemonHooks {
    std::function<void()> on_ready;     // listeners are up (systemd READY=1)
    std::function<void()> on_stopping;  // shutdown began (systemd STOPPING=1)
};

// Runs until SIGTERM or SIGINT. Returns the process exit code.
int run_daemon(std::shared_ptr<const config::Config> config, const DaemonHooks& hooks);

}  // namespace pgsluice::proxy
