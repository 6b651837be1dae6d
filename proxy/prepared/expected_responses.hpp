// The answers one server connection still owes, in the order it will send them: a FIFO with
// one entry per frontend message that gets an answer (Parse, Bind, Describe, Execute, Close,
// Sync, Query), whether pgsluice's own (an injected Parse or Close) or the client's. Each
// entry says whether its answer goes to the client or is swallowed, and carries the
// bookkeeping to commit when that answer arrives: a statement counts as prepared on the
// server only at its ParseComplete.
//
// Answers pgsluice gives itself (ParseComplete for a statement the server already has,
// CloseComplete for a client's Close, the error for a refused Parse) are *local* entries in
// the same FIFO: they are emitted once every answer queued before them has gone to the
// client, so the client sees its answers in the order it asked, e.g.
//     client: Bind s1 / Execute / Parse s2 (server has it) / Bind s2 / Execute / Sync
//     FIFO:   bind, execute, local ParseComplete, bind, execute, sync
//     server: 2 D.. C          2 D.. C Z
//     client: 2 D.. C 1        2 D.. C Z
//
// An ErrorResponse to an extended-query message makes the server skip every message up to
// the next Sync: every entry up to (not including) the next Sync entry is dropped without
// committing, local answers included (PostgreSQL would have skipped their messages too),
// and their undo actions run, newest first: a client's Parse the server skipped leaves no
// statement behind, a Close it skipped leaves the statement in place, a pending server
// statement whose only Parse was skipped is released, an eviction Close that was skipped
// becomes an orphan to close again.
//
// Not thread-safe: it belongs to one server connection and is used by the session leasing it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/prepared/client_statements.hpp"
#include "proxy/prepared/fifo.hpp"
#include "proxy/prepared/server_statements.hpp"

namespace pgsluice::proxy::prepared {

struct Expected {
    enum class Answer : std::uint8_t {
        parse,               // ParseComplete
        bind,                // BindComplete
        close,               // CloseComplete
        describe,            // [ParameterDescription] then RowDescription or NoData
        execute,             // CommandComplete, EmptyQueryResponse or PortalSuspended
        sync,                // ReadyForQuery
        query,               // a simple Query: everything up to ReadyForQuery
        local,               // nothing from the server: `emit` goes to the client when reached
    };
    // What to do when the answer arrives, or is skipped.
    enum class Bookkeeping : std::uint8_t {
        none,
        server_parse,    // pgsluice's Parse of `server_name`: confirm it, or release it if skipped
        eviction_close,  // pgsluice's Close of an evicted `server_name`: if skipped, an orphan
    };
    // What undoes a client's table change if the server skips this entry.
    enum class ClientUndo : std::uint8_t {
        none,
        remove_name,   // the client's Parse of `client_name` never happened (confirmed when answered)
        restore_name,  // the client's Close of `client_name` (= `client_key`) never happened
    };

    Answer answer = Answer::sync;
    bool to_client = true;  // false: swallow the answer (it answers pgsluice's own message)
    Bookkeeping bookkeeping = Bookkeeping::none;
    ClientUndo undo = ClientUndo::none;
    std::string server_name;
    std::string client_name;
    StatementKeyRef client_key;
    // `local`: the bytes to send the client. Otherwise, when not empty: the server's
    // ErrorResponse to this entry is swallowed and these bytes go instead (a Parse pgsluice
    // refuses, which it makes the server fail with a harmless message: see StatementRouter).
    std::string emit;
    // `local`: a ReadyForQuery follows `emit`, with the status the server last reported (a
    // simple-Query DEALLOCATE that pgsluice answers itself).
    bool ready_for_query = false;
};

class ExpectedResponses {
public:
    // A frontend message's entry, in the order the server will read the messages. While the
    // server is skipping to Sync after an error (reported before the Sync was pushed), the
    // entry is skipped at once: undone, never queued.
    void push(Expected expected, ServerStatements& server, ClientStatements& client);
    // The same for an entry with nothing to remember but its kind (no names, no bookkeeping,
    // no bytes of pgsluice's): every message of a client that uses only the unnamed
    // statement, and every Bind and Execute. It costs no Expected and its three strings.
    void push_answer(Expected::Answer answer, bool to_client, ServerStatements& server, ClientStatements& client);
    bool empty() const { return steps_.empty(); }
    std::size_t size() const { return steps_.size(); }
    // Counts the Syncs pushed: messages between two Syncs are one segment, skipped together
    // after an error.
    std::uint64_t segment() const { return segment_; }
    // The transaction status of the last ReadyForQuery the server sent ('I' before any).
    char transaction_status() const { return transaction_status_; }

    struct Verdict {
        bool pass = true;   // send this server message on to the client
        std::string then;   // bytes for the client after it (local answers now due)
    };
    // One message from the server. `ready_status` is ReadyForQuery's status byte (only with
    // 'Z'); `command_tag` CommandComplete's tag (only with 'C'; "DISCARD ALL" and
    // "DEALLOCATE ALL" clear both tables, however the client sent them). Messages that
    // answer nothing (NoticeResponse, ParameterStatus, NotificationResponse, DataRow, COPY
    // data) always pass. An ErrorResponse to a Parse pgsluice injected passes too: the
    // client's own message behind it is skipped with it, and the error (say, a table that
    // was dropped since) is the one it would have met at Bind.
    Verdict on_server_message(char type, ServerStatements& server, ClientStatements& client,
                              char ready_status = 0, std::string_view command_tag = {});

    // Is the head a local entry (take_due_local has bytes to give)?
    bool local_due() const { return !steps_.empty() && steps_.front().answer == Expected::Answer::local; }
    // Local entries at the head (nothing from the server ahead of them): their bytes now.
    // on_server_message and StatementRouter call this; a forwarder does not need to.
    std::string take_due_local(ClientStatements& client);

    // The server is gone or was reset: nothing more will come.
    void clear() {
        steps_.clear();
        details_.clear();
        skipping_ = false;
    }

private:
    // An entry is kept as two parts: its Step, and (only when it has any) its Detail, in a
    // second FIFO in the same order. Most entries have no Detail, and a Step is 6 bytes.
    struct Step {
        Expected::Answer answer = Expected::Answer::sync;
        bool to_client = true;
        Expected::Bookkeeping bookkeeping = Expected::Bookkeeping::none;
        Expected::ClientUndo undo = Expected::ClientUndo::none;
        bool ready_for_query = false;
        bool detailed = false;  // its Detail is the next one in details_
    };
    struct Detail {
        std::string server_name;
        std::string client_name;
        StatementKeyRef client_key;
        std::string emit;
    };
    // The head's Detail, or nullptr.
    const Detail* head_detail() { return steps_.front().detailed ? &details_.front() : nullptr; }
    void pop_head();
    void push_step(const Step& step, Detail* detail, ServerStatements& server, ClientStatements& client);
    void skip_to_sync(ServerStatements& server, ClientStatements& client);
    static void undo(const Step& step, const Detail* detail, ServerStatements& server, ClientStatements& client);
    static void commit(const Step& step, const Detail* detail, ServerStatements& server, ClientStatements& client);

    Fifo<Step> steps_;
    Fifo<Detail> details_;
    std::uint64_t segment_ = 0;
    char transaction_status_ = 'I';
    bool skipping_ = false;  // the server had an error and no Sync has been pushed since
};

}  // namespace pgsluice::proxy::prepared
