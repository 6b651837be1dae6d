// The run-time parameters a client wants (from its startup packet: application_name,
// client_encoding, DateStyle, "-c" options, ...; later from the ParameterStatus its own SETs
// produce), and making the server it gets agree before its query runs, so every client sees
// its own values whichever pooled server serves it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/error_response.hpp"
#include "protocol/startup.hpp"
#include "proxy/asio.hpp"
#include "proxy/interner.hpp"
#include "proxy/server_connection.hpp"

namespace pgsluice::proxy {


class ClientSettings {
public:
    using Values = std::vector<std::pair<std::string, std::string>>;

    // Reads the startup packet; `refusal` is set when it asks for what pgsluice cannot do.
    static ClientSettings from_startup(const protocol::StartupMessage& startup, std::string& refusal);

    const Values& values() const { return values_ ? *values_ : kNone; }
    // The shared copy itself: a server remembers which one it was last brought in line with.
    const std::shared_ptr<const Values>& shared_values() const { return values_; }

    // The client's own SET changed a reported parameter (seen in its ParameterStatus).
    void observe(const std::string& name, const std::string& value);
    // Every reported parameter the client did not set gets the server's login default, so
    // a client never inherits what an earlier client of the same server SET.
    void fill_defaults(const ServerConnection& server);
    bool defaults_filled() const { return defaults_filled_; }
    // After the first SETs, take the server's spelling of each value ("iso" -> "ISO, MDY")
    // so later comparisons match.
    void adopt_server_spelling(const ServerConnection& server);
    // Shares the values with other clients that want the same ones (copy on write after).
    void share(Interner<Values>& interner);

private:
    static const Values kNone;
    Values& writable();  // the values, copied first if other clients share them

    std::shared_ptr<const Values> values_;
    bool defaults_filled_ = false;
};

using SettingsInterner = Interner<ClientSettings::Values>;

// Most clients want the same settings (their driver's defaults); one shared copy keeps an
// idle client small. Remembers a bounded number of recent distinct sets.

// Sends one SET per value the server does not already have; nullopt on success.
awaitable<std::optional<protocol::ErrorFields>> apply_settings(ServerConnection& server, const ClientSettings& settings);

}  // namespace pgsluice::proxy
