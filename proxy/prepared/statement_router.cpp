// The client-side half of prepared-statement tracking: a plan per client message.
#include "proxy/prepared/statement_router.hpp"

#include "protocol/deallocate_statement.hpp"
#include "protocol/error_response.hpp"
#include "protocol/extended_query.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"
#include "protocol/result_set.hpp"
#include "protocol/sqlstate.hpp"

namespace pgsluice::proxy::prepared {

namespace {

using Answer = Expected::Answer;
namespace frontend = protocol::frontend;

// A DEALLOCATE is a few dozen bytes; a longer Query is not one worth looking at.
constexpr std::uint32_t kLongestRecognisedQuery = 1024;

Expected answer(Answer kind, bool to_client = true) {
    Expected expected;
    expected.answer = kind;
    expected.to_client = to_client;
    return expected;
}

Expected local(std::string bytes) {
    Expected expected = answer(Answer::local);
    expected.emit = std::move(bytes);
    return expected;
}

// Closes of evicted statements whose first Close the server skipped.
void close_orphans(StatementTables& tables, ClientPlan& plan) {
    if (tables.server.orphans() == 0) return;  // the usual case: no vector to move out
    for (auto& name : tables.server.take_orphans()) {
        protocol::append_close(plan.to_server, 'S', name);
        Expected close = answer(Answer::close, false);
        close.bookkeeping = Expected::Bookkeeping::eviction_close;
        close.server_name = std::move(name);
        tables.expected.push(std::move(close), tables.server, tables.client);
    }
}

void inject_parse(StatementTables& tables, ClientPlan& plan, const StatementKey& key, const std::string& name) {
    protocol::append_parse(plan.to_server, name, key.query, key.parameter_types);
    Expected parse = answer(Answer::parse, false);
    parse.bookkeeping = Expected::Bookkeeping::server_parse;
    parse.server_name = name;
    tables.expected.push(std::move(parse), tables.server, tables.client);
}

// The server's name for `key`, after injecting whatever makes it exist there by the time the
// server reads the next message: nothing (it has it), or a Parse (preceded by the Close of
// the statement it evicts, or of its own earlier Parse from an earlier segment).
// `entry` is what tables.server.lookup(key) returned.
std::string ensure_on_server(StatementTables& tables, ClientPlan& plan, const StatementKeyRef& key,
                             const ServerStatements::Entry* entry, bool inject_the_parse = true) {
    const auto segment = tables.expected.segment();
    if (entry) {
        if (entry->confirmed || entry->sent_in_segment == segment) return entry->name;
        std::string name = entry->name;
        protocol::append_close(plan.to_server, 'S', name);
        tables.expected.push_answer(Answer::close, false, tables.server, tables.client);
        tables.server.resend(key, segment);
        if (inject_the_parse) inject_parse(tables, plan, *key, name);
        return name;
    }
    auto added = tables.server.add(key, segment);
    for (auto& evicted : added.evicted) {
        protocol::append_close(plan.to_server, 'S', evicted);
        Expected close = answer(Answer::close, false);
        close.bookkeeping = Expected::Bookkeeping::eviction_close;
        close.server_name = std::move(evicted);
        tables.expected.push(std::move(close), tables.server, tables.client);
    }
    std::string name = added.entry->name;
    if (inject_the_parse) inject_parse(tables, plan, *key, name);
    return name;
}

// The server's name for a client's statement that a Bind or Describe uses.
std::string server_name_for(StatementTables& tables, ClientPlan& plan, const ClientStatements::Statement& statement) {
    const auto* entry = tables.server.lookup(statement.key);
    // The client's own Parse of it is still on the way from an earlier segment: use its name
    // as it is. Should the server skip that Parse, it answers this message with 26000, as
    // PostgreSQL would have (no second Parse that would make it succeed).
    if (entry && !entry->confirmed && !statement.confirmed) return entry->name;
    return ensure_on_server(tables, plan, statement.key, entry);
}

// A Parse pgsluice refuses: the server is made to fail (so it skips to Sync as PostgreSQL
// would) and the client gets `sqlstate` and `message` in place of the server's error.
void refuse_parse(StatementTables& tables, ClientPlan& plan, const char* sqlstate, std::string message) {
    protocol::append_describe(plan.to_server, 'S', kRefusedParseStatement);
    Expected refusal = answer(Answer::describe, false);
    protocol::append_error_response(refusal.emit, {"ERROR", sqlstate, std::move(message), {}, {}});
    tables.expected.push(std::move(refusal), tables.server, tables.client);
    plan.forward_from = ClientPlan::kDrop;
}

void route_parse(StatementTables& tables, ClientPlan& plan, protocol::Bytes body) {
    auto parse = protocol::parse_parse(body);
    if (!parse || parse->statement.empty()) {  // the unnamed statement, or malformed: the server's
        tables.expected.push_answer(Answer::parse, true, tables.server, tables.client);
        return;
    }
    auto key = tables.keys.intern(parse->query, parse->parameter_types);
    switch (tables.client.add(parse->statement, key)) {
        case ClientStatements::AddResult::duplicate:
            refuse_parse(tables, plan, protocol::sqlstate::kDuplicatePreparedStatement,
                         "prepared statement \"" + std::string(parse->statement) + "\" already exists");
            return;
        case ClientStatements::AddResult::over_limit:
            refuse_parse(tables, plan, protocol::sqlstate::kProgramLimitExceeded,
                         "too many prepared statements: this client holds " + std::to_string(tables.client.limit()) +
                             " (max_client_prepared_statements); close some (Close or DEALLOCATE)");
            return;
        case ClientStatements::AddResult::added: break;
    }
    plan.forward_from = ClientPlan::kDrop;
    const auto segment = tables.expected.segment();
    const auto* entry = tables.server.lookup(key);
    Expected done = entry && (entry->confirmed || entry->sent_in_segment == segment) ? local({}) : answer(Answer::parse);
    done.undo = Expected::ClientUndo::remove_name;
    done.client_name = std::string(parse->statement);
    if (done.answer == Answer::local) {
        protocol::append_parse_complete(done.emit);
    } else {
        // The client's own Parse, renamed: its ParseComplete goes to the client and confirms it.
        done.server_name = ensure_on_server(tables, plan, key, entry, /*inject_the_parse=*/false);
        done.bookkeeping = Expected::Bookkeeping::server_parse;
        protocol::append_parse(plan.to_server, done.server_name, key->query, key->parameter_types);
    }
    tables.expected.push(std::move(done), tables.server, tables.client);
}

void route_bind(StatementTables& tables, ClientPlan& plan, protocol::Bytes body, std::size_t wire_size) {
    auto names = protocol::parse_bind_names(body);
    const auto* statement = names && !names->statement.empty() ? tables.client.find(names->statement) : nullptr;
    if (statement) {  // else unnamed, malformed, or unknown to this client: as it is, the server answers
        const auto server_name = server_name_for(tables, plan, *statement);
        const std::size_t rest_from = protocol::FrameScanner::kHeaderSize + names->rest_offset;
        protocol::append_bind_head(plan.to_server, names->portal, server_name, wire_size - rest_from);
        plan.forward_from = rest_from;
    }
    tables.expected.push_answer(Answer::bind, true, tables.server, tables.client);
}

// Describe and Close of a statement or a portal. Portals are the transaction's and keep their
// names (a server is never shared within a transaction).
void route_describe(StatementTables& tables, ClientPlan& plan, protocol::Bytes body) {
    auto target = protocol::parse_describe(body);
    const auto* statement =
        target && target->is_statement() && !target->name.empty() ? tables.client.find(target->name) : nullptr;
    if (statement) {
        const auto server_name = server_name_for(tables, plan, *statement);
        protocol::append_describe(plan.to_server, 'S', server_name);
        plan.forward_from = ClientPlan::kDrop;
    }
    tables.expected.push_answer(Answer::describe, true, tables.server, tables.client);
}

void route_close(StatementTables& tables, ClientPlan& plan, protocol::Bytes body) {
    auto target = protocol::parse_close(body);
    if (!target || !target->is_statement() || target->name.empty()) {
        tables.expected.push_answer(Answer::close, true, tables.server, tables.client);
        return;
    }
    // The server keeps the statement for other clients; the client's name is gone now.
    Expected done = local({});
    protocol::append_close_complete(done.emit);
    if (auto key = tables.client.remove(target->name)) {
        done.undo = Expected::ClientUndo::restore_name;
        done.client_name = std::string(target->name);
        done.client_key = std::move(key);
    }
    tables.expected.push(std::move(done), tables.server, tables.client);
    plan.forward_from = ClientPlan::kDrop;
}

void route_query(StatementTables& tables, ClientPlan& plan, protocol::Bytes body) {
    std::optional<protocol::DeallocateStatement> statement;
    if (!body.empty())
        if (auto text = protocol::parse_query_text(body)) statement = protocol::parse_deallocate_statement(*text);
    // In a failed transaction PostgreSQL refuses even DEALLOCATE (25P02): the server says so.
    const bool answer_locally = statement && tables.expected.transaction_status() != 'E' &&
                                (statement->kind == protocol::DeallocateStatement::Kind::deallocate_all ||
                                 (statement->kind == protocol::DeallocateStatement::Kind::deallocate &&
                                  tables.client.find(statement->name)));
    if (!answer_locally) {
        tables.expected.push_answer(Answer::query, true, tables.server, tables.client);  // DISCARD ALL: its CommandComplete clears the tables
        return;
    }
    Expected done = local({});
    if (statement->kind == protocol::DeallocateStatement::Kind::deallocate_all) {
        tables.client.clear();
        protocol::append_command_complete(done.emit, "DEALLOCATE ALL");
    } else {
        tables.client.remove(statement->name);
        protocol::append_command_complete(done.emit, "DEALLOCATE");
    }
    done.ready_for_query = true;
    tables.expected.push(std::move(done), tables.server, tables.client);
    plan.forward_from = ClientPlan::kDrop;
}

}  // namespace

bool router_inspects(char type, std::uint32_t length) {
    switch (type) {
        case frontend::kParse:
        case frontend::kBind:
        case frontend::kDescribe:
        case frontend::kClose: return true;
        case frontend::kQuery: return length <= kLongestRecognisedQuery;
        default: return false;
    }
}

ClientPlan route_client_message(StatementTables& tables, char type, protocol::Bytes body, std::size_t wire_size) {
    ClientPlan plan;
    switch (type) {
        case frontend::kParse: close_orphans(tables, plan); route_parse(tables, plan, body); break;
        case frontend::kBind: close_orphans(tables, plan); route_bind(tables, plan, body, wire_size); break;
        case frontend::kDescribe: close_orphans(tables, plan); route_describe(tables, plan, body); break;
        case frontend::kClose: route_close(tables, plan, body); break;
        case frontend::kExecute: tables.expected.push_answer(Answer::execute, true, tables.server, tables.client); break;
        case frontend::kSync: tables.expected.push_answer(Answer::sync, true, tables.server, tables.client); break;
        case frontend::kQuery: route_query(tables, plan, body); break;
        default: break;  // Flush, CopyData/Done/Fail, Terminate: no answer of their own
    }
    if (tables.expected.local_due()) plan.to_client = tables.expected.take_due_local(tables.client);
    return plan;
}

}  // namespace pgsluice::proxy::prepared
