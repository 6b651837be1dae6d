// Matching a server's answers to the FIFO of what it owes.
#include "proxy/prepared/expected_responses.hpp"

#include <vector>

#include "protocol/extended_query.hpp"
#include "protocol/messages.hpp"

namespace pgsluice::proxy::prepared {

namespace {
using Answer = Expected::Answer;

// Does a message of this type end the answer `answer` waits for?
bool ends(Answer answer, char type) {
    namespace backend = protocol::backend;
    switch (answer) {
        case Answer::parse: return type == backend::kParseComplete;
        case Answer::bind: return type == backend::kBindComplete;
        case Answer::close: return type == backend::kCloseComplete;
        case Answer::describe: return type == backend::kRowDescription || type == backend::kNoData;
        case Answer::execute:
            return type == backend::kCommandComplete || type == backend::kEmptyQueryResponse ||
                   type == backend::kPortalSuspended;
        case Answer::sync:
        case Answer::query: return type == backend::kReadyForQuery;
        case Answer::local: return false;
    }
    return false;
}

// Is this message part of the answer to `answer` (so it follows the entry's to_client)?
bool belongs(Answer answer, char type) {
    return ends(answer, type) || (answer == Answer::describe && type == protocol::backend::kParameterDescription);
}
}  // namespace

void ExpectedResponses::push(Expected expected, ServerStatements& server, ClientStatements& client) {
    if (expected.answer == Answer::sync) {
        ++segment_;
        skipping_ = false;
    } else if (skipping_) {
        undo(expected, server, client);
        return;
    }
    queue_.push_back(std::move(expected));
}

std::string ExpectedResponses::take_due_local(ClientStatements& client) {
    std::string out;
    while (!queue_.empty() && queue_.front().answer == Answer::local) {
        if (queue_.front().undo == Expected::ClientUndo::remove_name) client.confirm(queue_.front().client_name);
        out += queue_.front().emit;
        if (queue_.front().ready_for_query) protocol::append_ready_for_query(out, transaction_status_);
        queue_.pop_front();
    }
    return out;
}

ExpectedResponses::Verdict ExpectedResponses::on_server_message(char type, ServerStatements& server,
                                                                ClientStatements& client, char ready_status,
                                                                std::string_view command_tag) {
    Verdict verdict;
    if (type == protocol::backend::kReadyForQuery && ready_status != 0) transaction_status_ = ready_status;
    if (type == protocol::backend::kCommandComplete && (command_tag == "DISCARD ALL" || command_tag == "DEALLOCATE ALL")) {
        // The server dropped every statement, pgsluice's included; the client asked for it,
        // so its own go too (in transaction mode the FIFO's client is the one that sent it).
        server.clear();
        client.clear();
    }
    if (queue_.empty()) return verdict;  // asynchronous messages, or an answer nobody tracks
    Expected& head = queue_.front();

    if (type == protocol::backend::kErrorResponse) {
        if (head.answer == Answer::sync || head.answer == Answer::query) return verdict;  // it goes on to 'Z'
        if (!head.emit.empty()) {
            verdict.pass = false;  // pgsluice's own refusal stands in for the server's error
            verdict.then = head.emit;
        }
        skip_to_sync(server, client);
        verdict.then += take_due_local(client);
        return verdict;
    }
    if (type == protocol::backend::kReadyForQuery && head.answer != Answer::sync && head.answer != Answer::query) {
        // Out of step (a server never ends a segment without a Sync): treat what is pending
        // as skipped, so at least nothing is counted that the server did not do.
        skip_to_sync(server, client);
        skipping_ = false;
        if (queue_.empty()) return verdict;
    }
    Expected& current = queue_.front();
    // DataRow, NoticeResponse, rows of a Query... pass; but the whole answer to a Query
    // pgsluice sent itself (ClientToServer's nudge) is swallowed, as it is its own.
    const bool own_query = current.answer == Answer::query && !current.to_client;
    if (!own_query && !belongs(current.answer, type)) return verdict;
    verdict.pass = current.to_client;
    if (!ends(current.answer, type)) return verdict;
    commit(current, server, client);
    queue_.pop_front();
    verdict.then = take_due_local(client);
    return verdict;
}

void ExpectedResponses::commit(const Expected& entry, ServerStatements& server, ClientStatements& client) {
    if (entry.undo == Expected::ClientUndo::remove_name) client.confirm(entry.client_name);
    switch (entry.bookkeeping) {
        case Expected::Bookkeeping::server_parse: server.confirm(entry.server_name); break;
        case Expected::Bookkeeping::eviction_close:  // forgotten when its Close was sent
        case Expected::Bookkeeping::none: break;
    }
}

void ExpectedResponses::skip_to_sync(ServerStatements& server, ClientStatements& client) {
    std::size_t skipped = 0;
    while (skipped < queue_.size() && queue_[skipped].answer != Answer::sync) ++skipped;
    // Undo newest first: a Close then a Parse of the same name undo to the state before both.
    for (std::size_t i = skipped; i-- > 0;) undo(queue_[i], server, client);
    // No Sync queued yet: the server skips what is still to come too, up to the next Sync.
    if (skipped == queue_.size()) skipping_ = true;
    queue_.erase_front(skipped);
}

void ExpectedResponses::undo(const Expected& entry, ServerStatements& server, ClientStatements& client) {
    switch (entry.bookkeeping) {
        case Expected::Bookkeeping::server_parse: server.release(entry.server_name); break;
        case Expected::Bookkeeping::eviction_close: server.add_orphan(entry.server_name); break;
        case Expected::Bookkeeping::none: break;
    }
    switch (entry.undo) {
        case Expected::ClientUndo::remove_name: client.remove(entry.client_name); break;
        case Expected::ClientUndo::restore_name: client.add(entry.client_name, entry.client_key, true); break;
        case Expected::ClientUndo::none: break;
    }
}

}  // namespace pgsluice::proxy::prepared
