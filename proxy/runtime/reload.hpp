// Config reload: read and validate the whole file again, then swap it in and apply what can
// be applied live. An invalid file changes nothing: the old config keeps serving.
#pragma once

#include <string>

#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

// Logs every diagnostic and the list of changes. Returns false, with the diagnostics in
// `report`, when the file is invalid; true with a summary of the changes otherwise. Safe to
// call from any thread: reloads are serialized.
bool reload_config(ProxyContext& context, const std::string& path, std::string& report);

}  // namespace pgsluice::proxy
