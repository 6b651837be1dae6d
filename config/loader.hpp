// YAML text -> Config, with every problem reported as file:line:col. Pure: reads a string;
// the caller reads the file. Secrets given as {env: NAME} or {file: PATH} are resolved here
// through the injectable SecretResolver, so tests need no environment.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgsluice::config {

struct Diagnostic {
    enum class Severity { error, warning };
    Severity severity = Severity::error;
    Mark where;           // file, line, column of the offending key or value
    std::string message;  // e.g. "unknown key 'pool_szie' (did you mean 'pool_size'?)"

    // "FILE:LINE:COL: error: message" (or "warning:"), the format `pgsluice check` prints.
    std::string format() const;
};

// Looks up {env: NAME} and {file: PATH}; returns nullopt when missing/unreadable.
struct SecretResolver {
    std::function<std::optional<std::string>(const std::string& name)> env;
    std::function<std::optional<std::string>(const std::string& path)> file;
    static SecretResolver from_process();  // getenv and reading the file (trailing newline cut)
};

struct LoadResult {
    std::optional<Config> config;          // set only when there is no error
    std::vector<Diagnostic> diagnostics;   // errors and warnings, in file order
    bool ok() const { return config.has_value(); }
};

// Parses and validates. `file_name` is used only in diagnostics and Config::source_file.
LoadResult load_config(const std::string& yaml_text, const std::string& file_name,
                       const SecretResolver& secrets = SecretResolver::from_process());

// Reads the file then calls load_config; a missing file is one error at FILE:0:0.
LoadResult load_config_file(const std::string& path,
                            const SecretResolver& secrets = SecretResolver::from_process());

}  // namespace pgsluice::config
