// Why a pool closes a server: every close names one of these in its log line, as PgBouncer's
// disconnect_server() does, so that "why did my connection go" has an answer in the log.
#pragma once

namespace pgsluice::proxy {

enum class CloseReason {
    lifetime_over,        // server_lifetime passed since it was opened
    idle_timeout,         // idle longer than server_idle_timeout, above min_pool_size
    target_changed,       // reload changed the database's address, dbname or login
    pool_shrunk,          // reload lowered pool_size below the servers open
    reserve_unneeded,     // a reserve server with no client waiting for it
    admin_generation,     // RECONNECT, KILL or PAUSE asked for new servers
    donated,              // released to make room for a sibling pool under a shared cap
    dead_while_idle,      // the backend closed or sent something while idle
    check_failed,         // server_check_query failed
    not_reusable,         // the session gave it back in a state nobody checked
};

inline const char* to_string(CloseReason reason) {
    switch (reason) {
        case CloseReason::lifetime_over: return "server_lifetime over";
        case CloseReason::idle_timeout: return "server_idle_timeout";
        case CloseReason::target_changed: return "server address or login changed by reload";
        case CloseReason::pool_shrunk: return "pool_size reduced by reload";
        case CloseReason::reserve_unneeded: return "reserve server no longer needed";
        case CloseReason::admin_generation: return "RECONNECT, KILL or PAUSE asked for a new server";
        case CloseReason::donated:
            return "released, making room for a pool held back by max_db_connections or max_user_connections";
        case CloseReason::dead_while_idle: return "idle server closed or sent unexpected data";
        case CloseReason::check_failed: return "server_check_query failed";
        case CloseReason::not_reusable: return "not reusable";
    }
    return "unknown";
}

}  // namespace pgsluice::proxy
