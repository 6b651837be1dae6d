// The run-time parameters a client wants (from its startup packet: application_name,
// client_encoding, DateStyle, "-c" options, ...; later from the ParameterStatus its own SETs
// produce), and making the server it gets agree before its query runs, so every client sees
// its own values whichever pooled server serves it.
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

class ClientSettings {
public:
    // Reads the startup packet; error() is non-empty when it asks for what pgsluice cannot do.
    static ClientSettings from_startup(const protocol::StartupMessage& startup);

    const std::string& error() const { return error_; }
    const std::vector<std::pair<std::string, std::string>>& values() const { return values_; }

    // The client's own SET changed a reported parameter (seen in its ParameterStatus).
    void observe(const std::string& name, const std::string& value);
    // Every reported parameter the client did not set gets the server's login default, so
    // a client never inherits what an earlier client of the same server SET.
    void fill_defaults(const ServerConnection& server);
    bool defaults_filled() const { return defaults_filled_; }
    // After the first SETs, take the server's spelling of each value ("iso" -> "ISO, MDY")
    // so later comparisons match.
    void adopt_server_spelling(const ServerConnection& server);

private:
    std::vector<std::pair<std::string, std::string>> values_;
    std::string error_;
    bool defaults_filled_ = false;
};

// Sends one SET per value the server does not already have; nullopt on success.
awaitable<std::optional<protocol::ErrorFields>> apply_settings(ServerConnection& server, const ClientSettings& settings);

}  // namespace pgsluice::proxy
