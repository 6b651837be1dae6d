// Log setup: one line per event on stderr, human-readable or JSON (spdlog).
#pragma once

#include <string>

namespace pgsluice::proxy {

// `level`: trace, debug, info, warn, error. `format`: text or json.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace pgsluice::proxy
