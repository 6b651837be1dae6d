// Log setup: one line per event on stderr, human-readable or JSON (spdlog), written out in
// batches every 100 ms (at once for a warning or worse, and at exit).
#pragma once

#include <string>

namespace pgsluice::proxy {

// `level`: trace, debug, info, warn, error. `format`: text or json.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace pgsluice::proxy
