// What the forwarder does with each client message when named prepared statements are
// tracked (transaction and statement mode, max_prepared_statements > 0): forward it as it
// is, rename the statement in it, prepare the statement on this server first, or answer it
// without the server. Pure bookkeeping over the three tables; no I/O.
//
// How a forwarder uses it, per client message (from FrameScanner: `inspects` says which
// bodies it needs):
//     auto plan = route_client_message(tables, type, body, wire_size);
//     send plan.to_server, then the client's message from plan.forward_from to its end
//         (nothing of it when forward_from == ClientPlan::kDrop);
//     queue plan.to_client for the client after what is already queued for it.
// and per server message:
//     auto verdict = tables.expected.on_server_message(type, server, client, status, tag);
//     forward the message only if verdict.pass; then queue verdict.then for the client.
// The server may go back to the pool only when `expected` is empty (ReadyForQuery 'I' with
// nothing in flight already implies it). On a new or reset server connection (reconnect,
// server_reset_query, RECONNECT) clear its ServerStatements and ExpectedResponses.
//
// Decisions, and why:
// - A client's Parse of a statement the server already has (same text and parameter types,
//   from any client) is answered with a local ParseComplete, queued in the FIFO so it comes
//   in order. Close of a client's statement is answered locally too: the server keeps the
//   statement for other clients (its LRU bounds it).
// - A client's Parse of a name it already holds is refused with PostgreSQL's own 42P05, and
//   beyond max_client_prepared_statements with 54000 (program_limit_exceeded: a fixed limit
//   of pgsluice, not a resource shortage a retry would cure, which class 53 suggests). To
//   fail the way PostgreSQL would (the rest of the pipeline skipped up to Sync, the implicit
//   transaction rolled back), pgsluice makes the server fail: it sends a Describe of a
//   statement that never exists (`pgsluice_refused_parse`) in place of the Parse and gives
//   the client its own ErrorResponse in place of the server's 26000.
// - A Bind or Describe naming a statement the client does not hold goes to the server
//   unchanged, which answers 26000 as PostgreSQL would.
// - `DEALLOCATE name` (of a statement the client holds) and `DEALLOCATE ALL` as a simple
//   Query are answered locally (CommandComplete and ReadyForQuery with the server's last
//   status), unless the transaction has failed: then they go to the server, which answers
//   25P02. `DISCARD ALL` goes to the server; its CommandComplete clears both tables.
// - Not tracked: SQL-level PREPARE / EXECUTE (they reach the server as written, as today),
//   and a client that itself deallocates a `pgsluice_<n>` statement through SQL.
// - A Parse whose statement is pending on the server from an earlier Sync segment (its
//   answer not back yet) is sent again as Close + Parse under the same name: if the first
//   was skipped by an error, the second prepares it; if not, the Close makes room for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "protocol/wire.hpp"
#include "proxy/prepared/client_statements.hpp"
#include "proxy/prepared/expected_responses.hpp"
#include "proxy/prepared/server_statements.hpp"
#include "proxy/prepared/statement_key.hpp"

namespace pgsluice::proxy::prepared {

// The tables of one client and the server it leases, for the duration of one call.
struct StatementTables {
    ClientStatements& client;
    ServerStatements& server;
    ExpectedResponses& expected;
    StatementKeyInterner& keys;
};

struct ClientPlan {
    static constexpr std::size_t kDrop = std::numeric_limits<std::size_t>::max();
    std::string to_server;         // first: injected Close/Parse, then the rewritten message or its head
    std::size_t forward_from = 0;  // then the client's message from this offset (0: its type byte)
    std::string to_client;         // local answers now due
    bool forwards_unchanged() const { return to_server.empty() && forward_from == 0; }
};

// Does the router need this client message's whole body (FrameScanner's `inspects`)?
// Parse, Bind, Describe, Close, and a Query short enough to be a DEALLOCATE.
bool router_inspects(char type, std::uint32_t length);

// One client message. `body` is the whole body of an inspected type (empty otherwise);
// `wire_size` the message's size on the wire (type byte included).
ClientPlan route_client_message(StatementTables& tables, char type, protocol::Bytes body, std::size_t wire_size);

// The name of the statement pgsluice makes the server fail to describe (never prepared).
inline constexpr const char* kRefusedParseStatement = "pgsluice_refused_parse";

}  // namespace pgsluice::proxy::prepared
