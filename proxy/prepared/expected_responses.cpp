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
    const Step step{expected.answer, expected.to_client, expected.bookkeeping, expected.undo, expected.ready_for_query,
                    !expected.server_name.empty() || !expected.client_name.empty() || expected.client_key ||
                        !expected.emit.empty()};
    Detail detail;
    if (step.detailed)
        detail = Detail{std::move(expected.server_name), std::move(expected.client_name), std::move(expected.client_key),
                        std::move(expected.emit)};
    push_step(step, step.detailed ? &detail : nullptr, server, client);
}

void ExpectedResponses::push_answer(Answer answer, bool to_client, ServerStatements& server, ClientStatements& client) {
    Step step;
    step.answer = answer;
    step.to_client = to_client;
    push_step(step, nullptr, server, client);
}

void ExpectedResponses::push_step(const Step& step, Detail* detail, ServerStatements& server, ClientStatements& client) {
    if (step.answer == Answer::sync) {
        ++segment_;
        skipping_ = false;
    } else if (skipping_) {
        undo(step, detail, server, client);
        return;
    }
    steps_.push_back(step);
    if (detail) details_.push_back(std::move(*detail));
}

void ExpectedResponses::pop_head() {
    if (steps_.front().detailed) details_.pop_front();
    steps_.pop_front();
}

std::string ExpectedResponses::take_due_local(ClientStatements& client) {
    std::string out;
    while (!steps_.empty() && steps_.front().answer == Answer::local) {
        const Step& step = steps_.front();
        if (const Detail* detail = head_detail()) {
            if (step.undo == Expected::ClientUndo::remove_name) client.confirm(detail->client_name);
            out += detail->emit;
        }
        if (step.ready_for_query) protocol::append_ready_for_query(out, transaction_status_);
        pop_head();
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
    if (steps_.empty()) return verdict;  // asynchronous messages, or an answer nobody tracks
    const Step& head = steps_.front();

    if (type == protocol::backend::kErrorResponse) {
        if (head.answer == Answer::sync || head.answer == Answer::query) return verdict;  // it goes on to 'Z'
        if (const Detail* detail = head_detail(); detail && !detail->emit.empty()) {
            verdict.pass = false;  // pgsluice's own refusal stands in for the server's error
            verdict.then = detail->emit;
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
        if (steps_.empty()) return verdict;
    }
    const Step& current = steps_.front();
    // DataRow, NoticeResponse, rows of a Query... pass; but the whole answer to a Query
    // pgsluice sent itself (ClientToServer's nudge) is swallowed, as it is its own.
    const bool own_query = current.answer == Answer::query && !current.to_client;
    if (!own_query && !belongs(current.answer, type)) return verdict;
    verdict.pass = current.to_client;
    if (!ends(current.answer, type)) return verdict;
    commit(current, head_detail(), server, client);
    pop_head();
    if (local_due()) verdict.then = take_due_local(client);
    return verdict;
}

void ExpectedResponses::commit(const Step& step, const Detail* detail, ServerStatements& server,
                               ClientStatements& client) {
    if (!detail) return;  // nothing to confirm: no names
    if (step.undo == Expected::ClientUndo::remove_name) client.confirm(detail->client_name);
    switch (step.bookkeeping) {
        case Expected::Bookkeeping::server_parse: server.confirm(detail->server_name); break;
        case Expected::Bookkeeping::eviction_close:  // forgotten when its Close was sent
        case Expected::Bookkeeping::none: break;
    }
}

void ExpectedResponses::skip_to_sync(ServerStatements& server, ClientStatements& client) {
    std::size_t skipped = 0;
    std::size_t details = 0;  // of the skipped entries, those with a Detail
    while (skipped < steps_.size() && steps_[skipped].answer != Answer::sync) {
        if (steps_[skipped].detailed) ++details;
        ++skipped;
    }
    // Undo newest first: a Close then a Parse of the same name undo to the state before both.
    for (std::size_t i = skipped, d = details; i-- > 0;) {
        const Detail* detail = steps_[i].detailed ? &details_[--d] : nullptr;
        undo(steps_[i], detail, server, client);
    }
    // No Sync queued yet: the server skips what is still to come too, up to the next Sync.
    if (skipped == steps_.size()) skipping_ = true;
    steps_.erase_front(skipped);
    details_.erase_front(details);
}

void ExpectedResponses::undo(const Step& step, const Detail* detail, ServerStatements& server,
                             ClientStatements& client) {
    if (!detail) return;  // nothing to undo: no names
    switch (step.bookkeeping) {
        case Expected::Bookkeeping::server_parse: server.release(detail->server_name); break;
        case Expected::Bookkeeping::eviction_close: server.add_orphan(detail->server_name); break;
        case Expected::Bookkeeping::none: break;
    }
    switch (step.undo) {
        case Expected::ClientUndo::remove_name: client.remove(detail->client_name); break;
        case Expected::ClientUndo::restore_name: client.add(detail->client_name, detail->client_key, true); break;
        case Expected::ClientUndo::none: break;
    }
}

}  // namespace pgsluice::proxy::prepared
