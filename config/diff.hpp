// What changes between two configs, key by key, and whether a running pgsluice can apply
// each change live or needs a restart. Pure: reload logs this list, `pgsluice check --diff`
// prints it. Secrets are compared but never printed.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgsluice::config {

struct Change {
    std::string path;         // "databases.app.pool_size", "users.bob"
    std::string description;  // "10 -> 20", "added", "removed", "password changed"
    bool needs_restart = false;

    // "databases.app.pool_size: 10 -> 20", with " (needs a restart)" when it does.
    std::string format() const;
};

// Every difference from `old_config` to `new_config`, in a stable order (top-level keys,
// then defaults, databases and users by name).
std::vector<Change> diff_configs(const Config& old_config, const Config& new_config);

}  // namespace pgsluice::config
