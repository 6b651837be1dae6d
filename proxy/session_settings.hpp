// The run-time parameters a client asked for in its startup packet (application_name,
// client_encoding, DateStyle, "-c" options, ...), and applying them to the server it gets,
// so every client sees its own values whichever pooled server serves it.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/error_response.hpp"
#include "protocol/startup.hpp"
#include "proxy/asio.hpp"
#include "proxy/server_connection.hpp"

namespace pgsluice::proxy {

struct ClientSettings {
    std::vector<std::pair<std::string, std::string>> values;
    std::string error;  // non-empty: the startup packet asked for something pgsluice cannot do
};

ClientSettings client_settings(const protocol::StartupMessage& startup);

// Sends one SET per value the server does not already have; nullopt on success.
awaitable<std::optional<protocol::ErrorFields>> apply_settings(
    ServerConnection& server, const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace pgsluice::proxy
