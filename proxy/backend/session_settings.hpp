// The run-time parameters a client wants, and making the server it gets agree before its
// query runs, so every client sees its own values whichever pooled server serves it and
// never a value another client left behind.
//
// Where a client's settings come from: its startup packet (application_name,
// client_encoding, DateStyle, "-c name=value" in `options`, ...), the ParameterStatus its
// own SETs of reported parameters produce, and its own `SET name TO value` / `RESET name` /
// `RESET ALL` sent as a simple Query on its own between transactions (recognised by
// protocol::parse_set_statement). Any other change of a session setting on a server (a SET
// inside a transaction block, in a multi-statement Query, through the extended protocol)
// marks that server for a restore: `RESET ALL` and the next client's settings, before the
// next client runs anything.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/error_response.hpp"
#include "protocol/set_statement.hpp"
#include "protocol/startup.hpp"
#include "proxy/asio.hpp"
#include "proxy/runtime/interner.hpp"
#include "proxy/backend/server_connection.hpp"

namespace pgsluice::proxy {

// One setting a client wants. `value` is a string as in a startup packet (applied with
// set_config(), parsed as the server parses a config file), or, with `sql`, the value as
// the client wrote it in its own SET (applied with `SET name TO value`).
struct ClientSetting {
    std::string name;
    std::string value;
    bool sql = false;
    // What the startup packet asked for, which RESET goes back to (as PostgreSQL does).
    std::optional<std::string> startup_value;
    bool operator==(const ClientSetting&) const = default;
};

class ClientSettings {
public:
    using Values = std::vector<ClientSetting>;

    // Reads the startup packet; `refusal` is set when it asks for what pgsluice cannot do.
    static ClientSettings from_startup(const protocol::StartupMessage& startup, std::string& refusal);

    const Values& values() const { return values_ ? *values_ : kNone; }
    const ClientSetting* find(std::string_view name) const;
    // The shared copy itself: a server remembers which one it was last brought in line with.
    const std::shared_ptr<const Values>& shared_values() const { return values_; }

    // The client's own SET changed a reported parameter (seen in its ParameterStatus).
    void observe(const std::string& name, const std::string& value) { assign(name, value, false); }
    // The client's own SET, RESET or RESET ALL of parameters the server does not report,
    // which the server accepted.
    void set_sql(const std::string& name, const std::string& value_sql) { assign(name, value_sql, true); }
    void reset(std::string_view name);
    void reset_all_unreported(const ServerConnection& server);
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
    void assign(const std::string& name, const std::string& value, bool sql);

    std::shared_ptr<const Values> values_;
    bool defaults_filled_ = false;
};

using SettingsInterner = Interner<ClientSettings::Values>;

// Brings `server` in line with `settings` in one round trip: restores it first when another
// client changed its session untracked, sets what differs, resets what an earlier client
// left that this one did not ask for. Nothing sent when it is known to match. Nullopt on
// success; the server's error otherwise (nothing changed then: the statements run as one
// implicit transaction).
awaitable<std::optional<protocol::ErrorFields>> apply_settings(ServerConnection& server, const ClientSettings& settings);

// What a client's standalone SET/RESET, now confirmed by the server (its command tag and a
// ReadyForQuery that says idle), means for the client's settings and for what the server
// is known to have.
void settle_session_change(const protocol::SetStatement& change, ClientSettings& settings, ServerConnection& server);

}  // namespace pgsluice::proxy
