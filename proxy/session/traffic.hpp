// What crosses a session while it holds a server: the two directions' visitors (what each
// message means for the server's state, the pool's counters and the drain), and the buffers
// and scanners that carry a transaction from the quick path to the full forwarder.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"
#include "protocol/server_state.hpp"
#include "protocol/set_statement.hpp"
#include "proxy/forward/forwarder.hpp"
#include "proxy/forward/write_deadline.hpp"
#include "proxy/io/handler_memory.hpp"
#include "proxy/pool/pool.hpp"
#include "proxy/pool/pool_stats.hpp"
#include "protocol/extended_query.hpp"
#include "proxy/prepared/statement_router.hpp"
#include "proxy/runtime/proxy_context.hpp"
#include "proxy/runtime/quick_deadlines.hpp"
#include "proxy/runtime/event_clock.hpp"
#include "proxy/backend/server_connection.hpp"
#include "proxy/backend/session_settings.hpp"
#include "proxy/session/silence_clock.hpp"

namespace pgsluice::proxy {

inline std::uint64_t to_us(Clock::duration d) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// Times queries and transactions from the message headers that cross, for PoolStats. A
// query's time runs from its Query or Sync to its ReadyForQuery (pipelined behind another,
// from the ReadyForQuery before it); a transaction's from its first query to the
// ReadyForQuery that says idle.
struct QueryClock {
    Clock::time_point query_started{};
    Clock::time_point transaction_started{};
    bool in_transaction = false;
};

// Counts this session in ProxyContext::busy_sessions() while its server is inside a
// transaction or a query: the shutdown drain waits for the count to reach zero.
class BusyMark {
public:
    explicit BusyMark(std::atomic<std::int64_t>& count) : count_(count) {}
    BusyMark(const BusyMark&) = delete;
    BusyMark& operator=(const BusyMark&) = delete;
    ~BusyMark() { set(false); }
    void set(bool busy) {
        if (busy == busy_) return;
        busy_ = busy;
        count_ += busy ? 1 : -1;
    }

private:
    std::atomic<std::int64_t>& count_;
    bool busy_ = false;
};

// What the two directions of a transaction tell each other about session settings: a
// client's standalone SET or RESET waiting for the server's word, and how many "SET" tags
// are due to SET LOCAL / SET TRANSACTION, which end with their transaction. Any other
// SET, RESET or DISCARD tag marks the server for a restore.
struct SettingsWatch {
    // Queries and Parses longer than this are not looked at: a SET is short.
    static constexpr std::uint32_t kMaxInspected = 1024;
    std::optional<protocol::SetStatement> standalone;
    bool standalone_done = false;  // its command tag came
    std::uint32_t transaction_scoped = 0;

    void on_client_statement(std::optional<std::string_view> text, bool starts_transaction) {
        if (!text) return;
        auto statement = protocol::parse_set_statement(*text);
        if (!statement) return;
        if (statement->kind == protocol::SetStatement::Kind::transaction) {
            ++transaction_scoped;
        } else if (starts_transaction) {
            standalone = std::move(*statement);
            standalone_done = false;
        }
    }
    // A CommandComplete's tag; true when it changed the session in a way nobody follows.
    bool untracked_change(std::string_view tag) {
        const bool set = tag == "SET";
        if (!set && tag != "RESET" && !tag.starts_with("DISCARD")) return false;
        if (standalone && !standalone_done) {
            standalone_done = true;
            return false;
        }
        if (set && transaction_scoped > 0) {
            --transaction_scoped;
            return false;
        }
        return true;
    }
};

// Client to server: counts queries, marks the session busy, and stops at Terminate or at
// a message that must wait for the next server.
struct ClientToServer {
    protocol::ServerState& state;
    SilenceClock& silence;
    PoolStats& stats;
    QueryClock& clock;
    BusyMark& busy;
    const bool& server_released;  // ServerToClient passed the ReadyForQuery that releases the server
    SettingsWatch& watch;
    bool held_back = false;       // a message arrived after that: it waits for the next server
    char last_type = 0;           // of the last message forwarded
    // With prepared statements tracked (transaction and statement mode): this client's and
    // its server's tables, and the plan of the client's stream, where statement names are
    // rewritten and Parses injected.
    prepared::StatementTables* statements = nullptr;
    OutputPlan* plan = nullptr;
    bool inspects(char type, std::uint32_t length) const {
        if (statements && length < StreamBuffer::kMaxInspectedMessage && prepared::router_inspects(type, length))
            return true;
        return (type == protocol::frontend::kQuery || type == protocol::frontend::kParse) &&
               length <= SettingsWatch::kMaxInspected;
    }
    protocol::Verdict on_message(const protocol::MessageView& message) {
        if (message.type == protocol::frontend::kTerminate) return protocol::Verdict::stop_before;
        // The client's next transaction, read before the release stopped this side: it
        // must not reach a server that is about to go back to the pool (or, draining,
        // that the session must give up before telling the client).
        if (server_released) {
            held_back = true;
            return protocol::Verdict::stop_before;
        }
        busy.set(true);
        if (statements) route(message);
        if (!message.body.empty() && message.length <= SettingsWatch::kMaxInspected) {
            if (message.type == protocol::frontend::kQuery) {
                watch.on_client_statement(protocol::parse_query_text(message.body),
                                          state.transaction_status() == 'I' && state.awaiting_ready() == 0);
            } else {
                // A statement prepared now may run later, many times: only SET LOCAL is
                // counted (once); any other SET's tag marks the server.
                watch.on_client_statement(protocol::parse_parse_query_text(message.body), false);
            }
        }
        if (silence.enabled()) silence.on_client_message(state, EventClock::now());
        if (message.type == protocol::frontend::kQuery || message.type == protocol::frontend::kSync) {
            PoolStats::add(stats.queries);
            const auto now = EventClock::now();
            if (state.awaiting_ready() == 0) clock.query_started = now;
            if (!clock.in_transaction) {
                clock.in_transaction = true;
                clock.transaction_started = now;
            }
        }
        state.on_frontend_message(message.type);
        last_type = message.type;
        return protocol::Verdict::forward;
    }
    void on_forwarded(std::size_t bytes) { PoolStats::add(stats.bytes_received, bytes); }

    // What the statement router makes of one client message, as edits of the plan.
    void route(const protocol::MessageView& message) {
        const bool whole = message.body.size() + 4 == message.length;
        auto routed = prepared::route_client_message(*statements, message.type, message.body, message.size());
        std::string after;  // for the client's message's end
        if (!routed.to_client.empty()) nudge(routed, message.type, routed.forward_from == prepared::ClientPlan::kDrop ? routed.to_server : after);
        if (!routed.forwards_unchanged()) {
            const auto drop = routed.forward_from == prepared::ClientPlan::kDrop ? message.size() : routed.forward_from;
            plan->edit(message.offset, drop, std::move(routed.to_server));
        }
        if (!after.empty() && whole) plan->edit(message.offset + message.size(), 0, std::move(after));
    }
    // Answers pgsluice gives itself (a ParseComplete for a statement the server has, a
    // CloseComplete, a DEALLOCATE's result) go to the client when the server answers a
    // message of pgsluice's in the same request, so that they come in order and at the
    // moment PostgreSQL would send them: in place of a simple Query, an empty Query (its
    // whole answer swallowed); otherwise a Close of a portal that never exists, answered at
    // the client's next Flush or Sync.
    void nudge(prepared::ClientPlan& routed, char type, std::string& to_server) {
        auto hook = prepared::Expected::Answer::close;
        if (type == protocol::frontend::kQuery) {
            protocol::append_query(to_server, "");
            hook = prepared::Expected::Answer::query;
        } else {
            protocol::append_close(to_server, 'P', "pgsluice_nudge");
        }
        statements->expected.push_answer(hook, /*to_client=*/false, statements->server, statements->client);
        prepared::Expected answer;
        answer.answer = prepared::Expected::Answer::local;
        answer.emit = std::move(routed.to_client);
        routed.to_client.clear();
        statements->expected.push(std::move(answer), statements->server, statements->client);
    }
};

// Server to client: follows the server's transaction state, keeps the client's view of its
// parameters, counts queries and transactions, and stops at the ReadyForQuery that lets
// the server go.
struct ServerToClient {
    OutputPlan& plan;  // of the server's stream: what goes on to the client
    ServerConnection& server;
    ClientSettings& settings;
    bool release_when_idle;
    bool statement_mode;
    SilenceClock& silence;
    PoolStats& stats;
    QueryClock& clock;
    BusyMark& busy;
    const ProxyContext& context;
    SettingsWatch& watch;
    bool released = false;            // stopped at a ReadyForQuery to give the server back
    // Set by the forwarder: gives the server back at that ReadyForQuery before the answer is
    // written to the client, when nothing else is in flight (`unread` bytes follow it in the
    // buffer). A plain function and its context: no allocation per transaction.
    void (*release_early)(void* context, std::size_t unread) = nullptr;
    void* release_early_context = nullptr;
    bool opened_transaction = false;  // statement mode: a BEGIN the mode cannot honour
    bool wants_client_data = false;   // CopyInResponse or CopyBothResponse: the server waits for the client
    // With prepared statements tracked: the FIFO of answers the server owes says what goes on
    // to the client and what is swallowed.
    prepared::StatementTables* statements = nullptr;
    bool inspects(char type, std::uint32_t length) const {
        // Whatever may be swallowed or followed by pgsluice's own answers is looked at whole
        // (rows and COPY data always pass).
        if (statements && !statements->expected.empty() && type != 'D' && type != 'd' &&
            length < StreamBuffer::kMaxInspectedMessage)
            return true;
        return type == protocol::backend::kReadyForQuery || type == protocol::backend::kParameterStatus ||
               (type == protocol::backend::kCommandComplete && length <= 64);
    }
    // The FIFO's verdict on one server message, as edits of the plan.
    void follow_expected(const protocol::MessageView& message) {
        char ready_status = 0;
        std::string_view tag;
        if (message.type == protocol::backend::kReadyForQuery)
            ready_status = protocol::parse_ready_for_query(message.body).value_or(0);
        else if (message.type == protocol::backend::kCommandComplete)
            tag = protocol::parse_command_tag(message.body).value_or(std::string_view{});
        auto verdict = statements->expected.on_server_message(message.type, statements->server, statements->client,
                                                              ready_status, tag);
        if (!verdict.pass)
            plan.edit(message.offset, message.size(), std::move(verdict.then));
        else if (!verdict.then.empty())
            plan.edit(message.offset + message.size(), 0, std::move(verdict.then));
    }
    protocol::Verdict on_message(const protocol::MessageView& message) {
        if (statements && (!statements->expected.empty() || message.type == protocol::backend::kCommandComplete))
            follow_expected(message);
        if (message.type == protocol::backend::kReadyForQuery) {
            if (watch.standalone) settle_standalone(protocol::parse_ready_for_query(message.body).value_or('E'));
            if (silence.enabled()) silence.on_ready_for_query(EventClock::now());
            const bool answers_query = server.state().awaiting_ready() > 0;
            server.state().on_ready_for_query(protocol::parse_ready_for_query(message.body).value_or('E'));
            if (answers_query) count_ready_for_query();
            if (server.state().idle()) busy.set(false);
            // Draining: a session-mode client is stopped at its next idle point too.
            if ((release_when_idle || context.draining()) && server.state().idle()) {
                released = true;
                return protocol::Verdict::stop_after;
            }
            if (statement_mode && server.state().transaction_status() != 'I') {
                // The client must not take the transaction for open: its ReadyForQuery is
                // dropped, and the refusal the session sends takes its place.
                opened_transaction = true;
                if (!plan.has_edits()) plan.edit(message.offset, message.size(), {});
                return protocol::Verdict::stop_after;
            }
        } else if (message.type == protocol::backend::kCommandComplete) {
            const auto tag = protocol::parse_command_tag(message.body);
            if (tag && !server.needs_restore() && watch.untracked_change(*tag)) {
                spdlog::debug("server {}: a client changed its session settings untracked ({}): restored before its next client",
                              server.id(), *tag);
                server.mark_needs_restore();
                PoolStats::add(stats.settings_restores);
            }
        } else if (message.type == 'G' || message.type == 'W') {
            wants_client_data = true;
        } else if (message.type == protocol::backend::kParameterStatus) {
            if (auto status = protocol::parse_parameter_status(message.body)) {
                server.set_parameter(status->name, status->value);
                settings.observe(status->name, status->value);
            }
        }
        return protocol::Verdict::forward;
    }
    // The ReadyForQuery after a client's standalone SET or RESET: when the server took it
    // (its tag came, and no transaction is open), it becomes part of the client's settings.
    void settle_standalone(char status) {
        if (watch.standalone_done && status == 'I') settle_session_change(*watch.standalone, settings, server);
        watch.standalone.reset();
    }
    void count_ready_for_query() {
        const auto now = EventClock::now();
        PoolStats::add(stats.query_time_us, to_us(now - clock.query_started));
        clock.query_started = now;  // a query pipelined behind this one starts now
        if (server.state().transaction_status() != 'I') return;
        PoolStats::add(stats.transactions);
        PoolStats::add(stats.transaction_time_us, to_us(now - clock.transaction_started));
        clock.transaction_started = now;
        clock.in_transaction = server.state().awaiting_ready() > 0;
    }
    void on_forwarded(std::size_t bytes) { PoolStats::add(stats.bytes_sent, bytes); }
    void on_stopping(std::size_t unread) {
        if (released && release_early) release_early(release_early_context, unread);
    }
};

// A session's traffic state while it is not parked: made when the client wakes up, dropped
// when it parks again (an idle client holds none of it). Every field is at a message
// boundary or carries exactly what the forwarder needs to go on from where the quick path
// stopped.
struct Traffic {
    Traffic() { from_server.plan.watch_writes(&client_write); }
    Traffic(const Traffic&) = delete;
    Traffic& operator=(const Traffic&) = delete;

    ServerLease lease;
    // The quick path's wait for a server ended in something the coroutine path finishes:
    // a slot, an error, a timeout (`waited`), or a server whose parameters differ from the
    // client's (`settings_due`, with the server in `lease`).
    WaitOutcome waited;
    bool settings_due = false;
    Stream from_client;
    Stream from_server;
    QueryClock clock;
    SettingsWatch watch;
    // Under query_timeout or idle_transaction_timeout: the transaction's clock, kept from the
    // quick path into the coroutine forwarder, and the worker's list that watches it.
    std::optional<SilenceClock> silence;
    QuickDeadlines::Hook deadline_hook;
    bool overrun_due = false;  // a limit passed that the coroutine forwarder acts on
    bool opened_transaction = false;  // statement mode: the quick path saw a transaction block open
    // Parked warm (ClientSession::park_warm): since when, and whether the worker's sweep
    // has cancelled the read to park the session cold.
    Clock::time_point warm_since{};
    bool cooling = false;
    // The quick path's one pending read (of the client or of the server).
    ReadMemory read_memory;
    // limits.client_write_timeout over every write to the client that has to wait (the
    // coroutine path's: the quick path hands a full socket over to it). When it expired,
    // the write failed for it and the session ends.
    WriteDeadline client_write;

    // Back to what a new Traffic is, keeping the buffers' memory (see TrafficCache). Only
    // what park() leaves: no server, no wait, empty buffers.
    void reset() {
        for (auto* stream : {&from_client, &from_server}) {
            stream->scanner = protocol::FrameScanner();
            stream->plan.clear();
            stream->buffer.shrink_to_initial();
        }
        clock = QueryClock();
        watch = SettingsWatch();
        silence.reset();
        QuickDeadlines::forget(deadline_hook);
        overrun_due = false;
        opened_transaction = false;
        cooling = false;
        settings_due = false;
        client_write.reset();
    }

    // A write the quick path began without finishing (a socket was full, or failed): the
    // coroutine path finishes it before anything else.
    bool write_pending() const { return from_client.plan.pending() || from_server.plan.pending(); }

    // At the ReadyForQuery that ends a transaction, before the answer is written to the
    // client: nothing half-sent to the server, nothing after that ReadyForQuery (`unread`
    // bytes of the server's buffer) and the server idle. Then the server may go back first,
    // so that a client that reads slowly holds only its own socket.
    bool may_release_before_answer(std::size_t unread, const protocol::ServerState& state) const {
        return unread == 0 && from_client.at_boundary() && from_server.scanner.at_boundary() && state.idle();
    }

    // Nothing half-sent to the server and nothing of its output unread: with the server idle
    // too, it may go to another client.
    bool server_drained() const {
        return from_client.at_boundary() && from_server.buffer.empty() && from_server.scanner.at_boundary();
    }
};

// Traffic of this worker's sessions that parked, kept with their buffers for the next
// transaction on the same worker: a transaction then allocates nothing. A few per worker
// (as many as run at once, at most kKept); idle clients still hold none.
class TrafficCache {
public:
    static constexpr std::size_t kKept = 32;

    static std::unique_ptr<Traffic> take() {
        auto& kept = this_worker();
        if (kept.empty()) return std::make_unique<Traffic>();
        auto traffic = std::move(kept.back());
        kept.pop_back();
        return traffic;
    }
    static void recycle(std::unique_ptr<Traffic> traffic) {
        auto& kept = this_worker();
        const bool clean = traffic && !traffic->lease && !traffic->waited && traffic->from_client.buffer.empty() &&
                           traffic->from_server.buffer.empty() && !traffic->write_pending();
        if (!clean || kept.size() >= kKept) return;  // freed here
        traffic->reset();
        kept.push_back(std::move(traffic));
    }

private:
    static std::vector<std::unique_ptr<Traffic>>& this_worker() {
        thread_local std::vector<std::unique_ptr<Traffic>> kept;
        return kept;
    }
};

}  // namespace pgsluice::proxy
