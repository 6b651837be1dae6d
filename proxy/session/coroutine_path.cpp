// The coroutine path: waiting for a server, bringing its settings in line, both directions
// forwarded at once (session mode, COPY, pipelines that need it), timeouts, errors and the
// drain; and finishing what the quick path handed over.
#include "proxy/session/client_session.hpp"

namespace pgsluice::proxy {

using namespace session_detail;

awaitable<std::optional<Ending>> ClientSession::finish_pending_write() {
    auto& traffic = *traffic_;
    auto& stats = pool_->stats();
    if (traffic.from_client.plan.pending()) {
        auto& from_client = traffic.from_client;
        if (auto ec = co_await from_client.plan.write(traffic.lease->transport(), from_client.buffer.filled().data())) {
            PoolStats::add(stats.servers_lost);
            traffic.lease.release_closed("server connection lost while writing");
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly"));
            co_return Ending{"server connection lost while writing: " + ec.message(), true};
        }
        PoolStats::add(stats.bytes_received, from_client.plan_sent());
    }
    if (traffic.from_server.plan.pending()) {
        auto& from_server = traffic.from_server;
        if (auto ec = co_await from_server.plan.write(client_, from_server.buffer.filled().data())) {
            if (!traffic.client_write.expired()) {
                traffic.lease.release_closed("client left mid-message");
                co_return Ending{"client connection lost: " + ec.message(), false};
            }
            traffic.lease.release_closed("client_write_timeout: the client stopped reading");
            PoolStats::add(stats.client_timeouts);
            co_return Ending{traffic.client_write.reason(), true};
        }
        PoolStats::add(stats.bytes_sent, from_server.plan_sent());
    }
    co_return std::nullopt;
}

// Acquires a server and makes its parameters match the client's. On failure the lease is
// empty and the returned error is what the client is told (FATAL: the session ends).
awaitable<std::optional<ErrorFields>> ClientSession::take_server(ServerLease& lease) {
    std::optional<ErrorFields> error;
    set_state(ClientState::waiting);
    try {
        // A server the quick path's wait brought is kept; its parameters are brought in line
        // below. Otherwise whatever else that wait came to is finished by acquire().
        if (!lease) {
            // (No conditional expression inside the co_await: GCC 12 mishandles its temporaries.)
            WaitOutcome waited;
            if (traffic_) waited = std::move(traffic_->waited);
            lease = co_await pool_->acquire(std::move(waited));
        }
    } catch (const PoolError& e) {
        error = e.fields;
    }
    if (!error) {
        if (!settings_.defaults_filled()) settings_.fill_defaults(*lease);
        try {
            error = co_await apply_settings(*lease, settings_);
        } catch (const std::exception& e) {
            PoolStats::add(pool_->stats().servers_lost);
            error = fatal(sqlstate::kConnectionFailure, std::string("server connection lost: ") + e.what());
        }
        if (error) lease.release_closed("applying the client's parameters failed");
    }
    if (!error) set_state(ClientState::active, lease->id());
    if (error) error->severity = "FATAL";
    co_return error;
}

// The client's queries, transaction by transaction. In session mode the server is held
// throughout; otherwise it is taken at the first message of a transaction and given back at
// the ReadyForQuery that ends it.
awaitable<std::optional<Ending>> ClientSession::serve_queries(ServerLease& lease) {
    if (!traffic_) traffic_ = TrafficCache::take();
    auto& client_buffer = traffic_->from_client.buffer;
    // Called when the client has something to say (or has gone): read it before parking again.
    bool woken = true;
    while (true) {
        // A server the quick path's wait brought, with parameters unlike the client's.
        const bool settle = lease && std::exchange(traffic_->settings_due, false);
        if (!lease) {
            // After a transaction, with nothing read ahead, park: the wait completes at once
            // when the client already sent more.
            if (!woken && client_buffer.empty()) co_return std::nullopt;
            woken = false;
            if (drain_ended() && client_buffer.empty()) {  // a wake-up that came between two waits
                co_await send_error(shutting_down());
                co_return Ending{"shutting down: told at the end of the drain", false};
            }
            auto next = co_await peek_message_type(client_buffer);
            if (!next) co_return Ending{"client disconnected", false};
            if (*next == protocol::frontend::kTerminate) co_return Ending{"client sent Terminate", false};
            // Draining: the client is told now, in answer to what it sent, so that it reads
            // the error as its query's result (an error sent while it is idle is easily
            // lost). A session-mode client gets here once the drain released its server at
            // its last idle point (see forward()). Busy first, then the check (both
            // seq_cst): either the drain sees this session busy, or it sees the drain.
            busy_.set(true);
            if (context_.draining()) {
                busy_.set(false);
                co_await send_error(shutting_down());
                co_return Ending{"shutting down: refused a new transaction", false};
            }
        }
        if (!lease || settle) {
            const auto asked = Clock::now();
            if (auto error = co_await take_server(lease)) {
                co_await send_error(*error);
                co_return Ending{"no server for " + pool_->database() + "/" + pool_->user() + ": " + error->message, true};
            }
            // A client that waited may have left meanwhile (a wait of under a millisecond is
            // not worth the system call). Its server goes back untouched.
            if ((settle || Clock::now() - asked > std::chrono::milliseconds(1)) && client_left()) {
                lease.release_reusable();
                busy_.set(false);
                co_return Ending{"client left while waiting for a server", false};
            }
            // A client that had to wait for its server (or have it brought in line) is
            // served by the quick path from here on, as one that found a server idle.
            if (&lease == &traffic_->lease && quick_allowed()) {
                cancel.set(*lease);
                watch_deadlines();
                if (quick_request()) {
                    phase_ = Phase::quick;  // resume() leaves the session to the handlers
                    co_return std::nullopt;
                }
                if (traffic_->write_pending())
                    if (auto ending = co_await finish_pending_write()) co_return ending;
            }
        }
        cancel.set(*lease);
        auto step = co_await forward(lease);
        cancel.set(std::nullopt);
        if (step.transaction_done) {
            traffic_->silence.reset();  // the next transaction's clock starts with it
            traffic_->overrun_due = false;
            if (mode_ == config::PoolMode::session)
                co_await return_server(lease, true);  // only when draining: reset and give it back
            else
                lease.release_reusable();
            set_state(ClientState::idle);
            continue;
        }
        co_await return_server(lease, step.server_clean);
        co_return step.ending;
    }
}

// Reads until the buffer holds a whole message header; returns its type, or nothing at EOF.
awaitable<std::optional<char>> ClientSession::peek_message_type(StreamBuffer& buffer) {
    buffer.allocate();
    while (buffer.filled().size() < protocol::FrameScanner::kHeaderSize) {
        auto [ec, n] = co_await client_.read_some(asio::buffer(buffer.free_space(), buffer.free_size()));
        if (ec) co_return std::nullopt;
        buffer.commit(n);
    }
    co_return static_cast<char>(buffer.filled()[0]);
}

awaitable<ClientSession::ForwardStep> ClientSession::forward(ServerLease& lease) {
    using namespace asio::experimental::awaitable_operators;

    const auto limits = transaction_limits();
    // The quick path's clock when it began the transaction: its timeouts run on.
    if (!traffic_->silence) traffic_->silence.emplace(limits, Clock::now());
    SilenceClock& silence = *traffic_->silence;
    PoolStats& stats = pool_->stats();
    QueryClock& query_clock = traffic_->clock;
    ServerToClient to_client{traffic_->from_server.plan, *lease, settings_, mode_ != config::PoolMode::session,
                             mode_ == config::PoolMode::statement, silence, stats, query_clock, busy_, context_,
                             traffic_->watch};
    ClientToServer to_server{lease->state(), silence, stats, query_clock, busy_, to_client.released, traffic_->watch};
    auto statements = statement_tables(*lease);
    if (statements) {
        to_client.statements = &*statements;
        to_server.statements = &*statements;
        to_server.plan = &traffic_->from_client.plan;
    }
    auto& from_client = traffic_->from_client;
    auto& from_server = traffic_->from_server;
    PumpControl control;
    Transport& server_transport = lease->transport();
    // Only with a timeout set: most transactions need no timer at all.
    std::optional<asio::steady_timer> watchdog_timer;
    if (silence.enabled()) watchdog_timer.emplace(co_await asio::this_coro::executor);
    Overrun overrun = Overrun::none;

    // Each direction, when it ends, stops the other by cancelling its read (the client side
    // the server's, the server side at a transaction's end the client's), and the watchdog.
    auto stop_the_rest = [&](Transport& other_source) {
        if (!control.stop) {
            control.stop = true;
            other_source.cancel();
        }
        if (watchdog_timer) watchdog_timer->cancel();
    };
    auto client_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(client_, server_transport, from_client, to_server, control);
        stop_the_rest(server_transport);
        co_return result;
    };
    auto server_side = [&]() -> awaitable<PumpResult> {
        auto result = co_await pump(server_transport, client_, from_server, to_client, control);
        stop_the_rest(client_);
        co_return result;
    };
    // At the ReadyForQuery that ends the transaction, with nothing else in flight either
    // way, the server goes back before the answer is written to the client: a client that
    // reads slowly keeps its own socket busy, not the server. Both directions stop then.
    // (Not in session mode, where the lease is the session's own, not traffic_'s.)
    struct EarlyRelease {
        ClientSession* session;
        PumpControl* control;
        bool done = false;
    } early{this, &control};
    if (mode_ != config::PoolMode::session) {
        to_client.release_early_context = &early;
        to_client.release_early = [](void* context, std::size_t unread) {
            auto& e = *static_cast<EarlyRelease*>(context);
            if (!e.session->release_before_answer(unread)) return;
            e.done = true;
            // The client side must not touch the server's socket again: stop it now.
            e.control->stop = true;
            e.session->client_.cancel();
        };
    }
    // Runs beside the two directions when a timeout is set. A query past query_timeout is
    // cancelled (PostgreSQL answers 57014 and the session goes on); anything else overdue
    // stops both directions and the caller closes the client. (Returns a value because
    // Asio 1.26's `tuple && void` operator does not compile.)
    auto watchdog = [&]() -> awaitable<bool> {
        while (!control.stop) {
            const auto now = Clock::now();
            const auto check = silence.check(lease->state(), now);
            if (check.overrun == Overrun::query_timeout) {
                silence.on_cancel_sent(now);
                PoolStats::add(stats.client_timeouts);
                spdlog::info("{}: query_timeout ({} ms) passed, cancelling the query", who(),
                             limits.query_timeout.count());
                if (auto target = cancel.get())
                    asio::co_spawn(client_.get_executor(), send_cancel(client_.get_executor(), *target, who()),
                                   asio::detached);
                continue;
            }
            if (check.overrun != Overrun::none) {
                overrun = check.overrun;
                control.stop = true;
                client_.cancel();
                server_transport.cancel();
                co_return true;
            }
            watchdog_timer->expires_at(check.next_check);
            co_await watchdog_timer->async_wait(asio::as_tuple(use_awaitable));
        }
        co_return false;
    };
    PumpResult client_result;
    PumpResult server_result;
    ForwardStep step;
    // The quick path forwarded the ReadyForQuery that opened a transaction in statement mode.
    to_client.opened_transaction = std::exchange(traffic_->opened_transaction, false);
    // The client side stopped without an end of its own: asked to, or holding back a message.
    auto client_paused = [&](PumpResult& result) {
        if (result.end == PumpEnd::stopped && to_server.held_back) result.end = PumpEnd::interrupted;
        return result.end == PumpEnd::interrupted;
    };
    while (!to_client.opened_transaction) {
        control.stop = false;
        to_client.released = false;
        to_server.held_back = false;
        if (silence.enabled())
            std::tie(client_result, server_result, std::ignore) = co_await (client_side() && server_side() && watchdog());
        else
            std::tie(client_result, server_result) = co_await (client_side() && server_side());
        if (overrun != Overrun::none || early.done) break;
        // The server may go to another client only if everything it was sent is complete
        // and answered, and we hold no unread bytes of its output.
        step.server_clean = traffic_->server_drained() && lease->state().idle() && lease->expected().empty();
        if (statements) {
            lease->count_prepared(stats);
            prepared_statements.store(static_cast<std::uint32_t>(statements_->size()), std::memory_order_relaxed);
        }
        const bool transaction_ended = server_result.end == PumpEnd::stopped && client_paused(client_result);
        // While the final ReadyForQuery was being written, the client may already have
        // sent its next transaction to this server: then keep serving it here.
        if (transaction_ended && !step.server_clean && !to_client.opened_transaction) continue;
        break;
    }
    if (traffic_->client_write.expired()) {
        // The client stopped reading (client_write_timeout): part of a message may have gone
        // to it, so it is only closed; its server too, unless it went back before the answer.
        PoolStats::add(stats.client_timeouts);
        step.server_clean = early.done;
        step.ending = {traffic_->client_write.reason(), true};
        co_return step;
    }
    if (early.done) {
        // The server is back in the pool; what is left is the client's side of things.
        step.server_clean = true;
        if (server_result.end == PumpEnd::sink_failed)
            step.ending = {"client connection lost: " + server_result.detail, false};
        else
            step.transaction_done = true;
        co_return step;
    }
    if (overrun != Overrun::none) {
        step.server_clean = false;  // closing it rolls back whatever the client left open
        switch (overrun) {
            case Overrun::idle_transaction_timeout:
                PoolStats::add(stats.client_timeouts);
                step.ending = {"idle_transaction_timeout", true};
                co_await send_error(fatal(sqlstate::kIdleInTransactionSessionTimeout,
                                          "terminating connection due to idle_transaction_timeout",
                                          "The client stayed inside a transaction without sending anything."));
                break;
            case Overrun::client_idle_timeout:
                PoolStats::add(stats.client_timeouts);
                step.ending = {"client_idle_timeout", false};
                co_await send_error(fatal(sqlstate::kIdleSessionTimeout,
                                          "terminating connection due to client_idle_timeout"));
                step.server_clean = traffic_->server_drained() && lease->state().idle();
                break;
            default:
                PoolStats::add(stats.servers_lost);
                step.ending = {"query_timeout: the server did not answer a cancel", true};
                co_await send_error(fatal(sqlstate::kConnectionFailure,
                                          "query_timeout: the server did not answer a cancel request in time",
                                          "The server connection was closed; reconnect."));
                break;
        }
        co_return step;
    }
    if (to_client.opened_transaction) {
        // Statement mode hands the server back after every statement, so a transaction
        // block cannot span statements: refuse it, as PgBouncer does, and drop the server
        // rather than leave its open transaction to the next client.
        step.server_clean = false;
        step.ending = {"transaction block in statement pooling mode", true};
        co_await send_error(fatal(sqlstate::kInvalidTransactionState,
                                  "transaction blocks not allowed in statement pooling mode",
                                  "Use pool_mode transaction or session for this database or user."));
        co_return step;
    }
    if (server_result.end == PumpEnd::stopped && client_paused(client_result) && step.server_clean) {
        step.transaction_done = true;
        co_return step;
    }
    if (client_result.end != PumpEnd::interrupted) {
        switch (client_result.end) {
            case PumpEnd::stopped: step.ending = {"client sent Terminate", false}; break;
            case PumpEnd::source_closed:
                if (drain_ended()) {  // the client did not go: the drain's end interrupted the read
                    step.ending = {"shutting down: told at the end of the drain", false};
                    co_await send_error(shutting_down());
                    break;
                }
                step.ending = {"client disconnected (" + client_result.detail + ")", false};
                break;
            case PumpEnd::sink_failed:
                PoolStats::add(stats.servers_lost);
                step.server_clean = false;
                step.ending = {"server connection lost while writing: " + client_result.detail, true};
                co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly"));
                break;
            case PumpEnd::protocol_error:
                step.ending = {"client broke the protocol: " + client_result.detail, true};
                co_await send_error(fatal(sqlstate::kProtocolViolation, client_result.detail));
                break;
            case PumpEnd::interrupted: break;
        }
        co_return step;
    }
    // The server closed after the ReadyForQuery that ended a transaction, which the loop
    // above held it past because more of its output came in the same read (in a crash
    // restart, PostgreSQL's "terminating connection because of crash of another server
    // process" notice). Its client is between transactions and lost nothing: it stays, and
    // its next transaction takes another server. A FATAL written to a client that is not
    // reading is easily lost, too: libpq's next query would meet a reset connection and
    // report no SQLSTATE. (Session mode: the server is the session's own.)
    if (server_result.end == PumpEnd::source_closed && mode_ != config::PoolMode::session && step.server_clean &&
        traffic_->from_client.buffer.empty()) {
        PoolStats::add(stats.servers_lost);
        lease.release_closed("server connection lost between transactions");
        step.transaction_done = true;
        co_return step;
    }
    step.server_clean = false;
    switch (server_result.end) {
        case PumpEnd::stopped:
        case PumpEnd::interrupted:
        case PumpEnd::source_closed:
            PoolStats::add(stats.servers_lost);
            step.ending = {"server connection lost: " + server_result.detail, true};
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server closed the connection unexpectedly",
                                      "The server may have restarted or been terminated; reconnect."));
            break;
        case PumpEnd::sink_failed: step.ending = {"client connection lost: " + server_result.detail, false}; break;
        case PumpEnd::protocol_error:
            PoolStats::add(stats.servers_lost);
            step.ending = {"server broke the protocol: " + server_result.detail, true};
            co_await send_error(fatal(sqlstate::kConnectionFailure, "server sent invalid data"));
            break;
    }
    co_return step;
}

// The session is over: reset the server and give it back (session mode runs the reset
// query; transaction mode needs none), or close it when it is in any state the next client
// must not inherit.
awaitable<void> ClientSession::return_server(ServerLease& lease, bool clean) {
    if (!lease) co_return;
    if (!clean) {
        lease.release_closed("client left mid-transaction or mid-message");
        co_return;
    }
    bool reset_ok = true;
    const auto& reset_query = pool_->settings().server_reset_query;
    if (mode_ == config::PoolMode::session && !reset_query.empty()) {
        try {
            auto error = co_await with_deadline(lease->run_simple_query(reset_query), kResetTimeout);
            reset_ok = !error && lease->state().idle();
            // DISCARD ALL (the default) undoes whatever the client did to the session;
            // another reset query may not, so only it clears a restore that is due.
            if (iequals(reset_query, "DISCARD ALL"))
                lease->restored();
            else
                lease->forget_all_applied();
        } catch (const std::exception&) {
            reset_ok = false;
        }
    }
    if (reset_ok)
        lease.release_reusable();
    else
        lease.release_closed("server reset query failed");
}

}  // namespace pgsluice::proxy
