// The quick path: a transaction served by readiness handlers, without a coroutine.
#include "proxy/session/client_session.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

using namespace session_detail;

// ---- the quick path ----
//
// In transaction mode most traffic is request and answer: the client sends a Query (or a
// batch ending in Sync), the server answers up to a ReadyForQuery. For that the session
// needs no coroutine and no second direction: it reads the client, forwards, waits for the
// server's answer, forwards it, and then gives the server back and parks (idle) or waits for
// the client's next statement (inside a transaction), with non-blocking system calls from
// readiness handlers on its worker. Anything else (no idle server, a partial message, COPY,
// a full socket, an error, a timeout to watch, the drain's end) hands the same Traffic state
// to the coroutine path, which goes on from exactly there.

namespace {
// The forwarder's silence clock when no limit is set: never consulted, never changed.
SilenceClock& no_silence_limits() {
    static SilenceClock clock(SilenceLimits{}, Clock::time_point{});
    return clock;
}
}  // namespace

std::optional<prepared::StatementTables> ClientSession::statement_tables(ServerConnection& server) {
    const auto limits = pool_->prepared_limits();
    if (limits.per_server == 0 || mode_ == config::PoolMode::session) return std::nullopt;
    if (!statements_) statements_ = std::make_unique<prepared::ClientStatements>(limits.per_client);
    statements_->set_limit(limits.per_client);
    return prepared::StatementTables{*statements_, server.statements(limits.per_server),
                                     server.expected(), context_.statement_keys()};
}

bool ClientSession::quick_allowed() const { return mode_ != config::PoolMode::session; }

// The limits that watch a transaction (client_idle_timeout watches a parked client instead).
SilenceLimits ClientSession::transaction_limits() const {
    auto limits = pool_->traffic_limits();
    if (mode_ != config::PoolMode::session) limits.client_idle_timeout = Duration::zero();
    return limits;
}

void ClientSession::watch_deadlines() {
    const auto limits = transaction_limits();
    if (!limits.any()) return;
    auto& traffic = *traffic_;
    if (!traffic.silence) traffic.silence.emplace(limits, EventClock::now());
    QuickDeadlines::watch(
        traffic.deadline_hook, client_.get_executor(),
        [](void* owner, Clock::time_point now) { static_cast<ClientSession*>(owner)->on_deadline(now); }, this);
}

// The worker's look at a quick-path transaction under a limit. A query past query_timeout is
// cancelled here (PostgreSQL answers 57014 and the transaction goes on); anything else the
// coroutine forwarder finishes, from the same clock: the session's pending read is cancelled
// and it resumes there.
void ClientSession::on_deadline(Clock::time_point now) {
    auto& traffic = *traffic_;
    if (!traffic.lease || !traffic.silence || traffic.overrun_due) return;
    const auto check = traffic.silence->check(traffic.lease->state(), now);
    if (check.overrun == Overrun::none) return;
    if (check.overrun == Overrun::query_timeout) {
        traffic.silence->on_cancel_sent(now);
        PoolStats::add(pool_->stats().client_timeouts);
        spdlog::info("{}: query_timeout ({} ms) passed, cancelling the query", who(),
                     pool_->traffic_limits().query_timeout.count());
        if (auto target = cancel.get())
            asio::co_spawn(client_.get_executor(), send_cancel(client_.get_executor(), *target, who()), asio::detached);
        return;
    }
    traffic.overrun_due = true;
    QuickDeadlines::forget(traffic.deadline_hook);
    client_.cancel();
    traffic.lease->transport().cancel();
}

bool ClientSession::quick_transaction() {
    if (!quick_allowed() || phase_ != Phase::quick || drain_ended()) return false;
    traffic_ = TrafficCache::take();
    return read_next_transaction();
}

// The client's next transaction, read now: begun when it is there, else the session parks.
bool ClientSession::read_next_transaction() {
    switch (read_now(client_, traffic_->from_client.buffer)) {
        case ReadNow::nothing: park(); return true;
        case ReadNow::failed: return false;  // the coroutine path reads it again and says so
        case ReadNow::data: return begin_quick_transaction();
    }
    return false;
}

// The client's first bytes of a transaction are in traffic_->from_client: find a server.
bool ClientSession::begin_quick_transaction() {
    auto& traffic = *traffic_;
    auto& buffer = traffic.from_client.buffer;
    if (buffer.filled().size() < protocol::FrameScanner::kHeaderSize ||
        buffer.filled()[0] == static_cast<std::uint8_t>(protocol::frontend::kTerminate))
        return false;
    // As serve_queries: busy first, then the drain check.
    busy_.set(true);
    if (context_.draining()) return false;
    auto got = pool_->acquire_quick(client_.get_executor(), self());
    if (got.queued) {
        phase_ = Phase::waiting;
        set_state(ClientState::waiting);
        watch_client_while_waiting();
        return true;  // on_wait_over goes on from here
    }
    traffic.waited = std::move(got.outcome);  // a slot to open a server with: take_server does
    traffic.lease = std::move(got.lease);
    if (!traffic.lease) return false;
    if (!traffic.lease->in_sync_with(settings_.shared_values())) {
        traffic.lease.release_reusable();  // untouched; take_server brings one in line
        return false;
    }
    set_state(ClientState::active, traffic.lease->id());
    cancel.set(*traffic.lease);
    watch_deadlines();
    return quick_request();
}

// The pool's answer to a client that queued on the quick path, on this session's worker: a
// server goes straight to the client's request; anything else (a server to bring in line
// with the client's parameters, a slot to open one with, an error, query_wait_timeout) goes
// to the coroutine path, which takes the outcome from traffic_.
void ClientSession::on_wait_over(WaitOutcome outcome) {
    EventClock::Scope event;
    auto& traffic = *traffic_;  // kept while queued: nothing else runs for a queued session
    client_.cancel();           // the watch (no system call); its handler ignores the abort
    if (client_stirred_ && client_left()) {
        // Whatever the wait brought (a server, a slot, an error) goes back untouched.
        outcome = WaitOutcome();
        busy_.set(false);
        finish(Ending{"client left while waiting for a server", false});
        return;
    }
    traffic.lease = pool_->take_waited_server(outcome, client_.get_executor());
    traffic.waited = std::move(outcome);
    if (traffic.lease) {
        if (traffic.lease->in_sync_with(settings_.shared_values())) {
            set_state(ClientState::active, traffic.lease->id());
            cancel.set(*traffic.lease);
            watch_deadlines();
            phase_ = Phase::quick;
            if (quick_request()) return;
        } else {
            traffic.settings_due = true;
        }
    }
    asio::co_spawn(client_.get_executor(), resume(self(), {}), asio::detached);
}

// While its query waits for a server, the client must not leave unnoticed (what it sent
// must not run then), but asking the kernel (client_left(), a poll) for every queued
// transaction costs a system call each, and at hundreds of clients over a pool of 20
// nearly every transaction queues. So a wait on the client socket stays pending instead,
// at no cost while nothing happens: the socket is registered with the worker's epoll,
// edge-triggered, and the next event on it (a FIN, a reset, or more bytes) completes the
// wait. on_wait_over asks the kernel only when that happened. A FIN that came in the
// moment between the read of the query and this wait is as one that comes just after the
// check: the query runs, and its answer finds the client gone.
void ClientSession::watch_client_while_waiting() {
    client_stirred_ = false;
    client_.async_wait_readable(in_memory(wait_memory_, [self = self()](const boost::system::error_code& ec) {
        // A late completion from an earlier wait only costs one poll more.
        if (ec != asio::error::operation_aborted) self->client_stirred_ = true;
    }));
}

// Forwards what the client sent; waits for the answer when it is due.
bool ClientSession::quick_request() {
    auto& traffic = *traffic_;
    auto& from_client = traffic.from_client;
    const bool released = false;
    SilenceClock& silence = traffic.silence ? *traffic.silence : no_silence_limits();
    ClientToServer to_server{traffic.lease->state(), silence, pool_->stats(), traffic.clock, busy_,
                             released, traffic.watch};
    auto statements = statement_tables(*traffic.lease);
    if (statements) {
        to_server.statements = &*statements;
        to_server.plan = &from_client.plan;
    }
    const auto step = forward_now(from_client, traffic.lease->transport(), to_server);
    if (statements) {
        traffic.lease->count_prepared(pool_->stats());
        prepared_statements.store(static_cast<std::uint32_t>(statements_->size()), std::memory_order_relaxed);
    }
    if (!step.written) return false;
    // Whole messages ending in a Query or Sync: the server answers up to a ReadyForQuery
    // without hearing from the client again.
    const bool answer_due = step.scan.status == protocol::FrameScanner::Status::need_more &&
                            from_client.buffer.empty() && from_client.scanner.at_boundary() &&
                            traffic.lease->state().awaiting_ready() > 0 &&
                            (to_server.last_type == protocol::frontend::kQuery ||
                             to_server.last_type == protocol::frontend::kSync);
    if (!answer_due) return false;
    return wait_for_server();
}

// Runs `step` (a quick-path step: true when it took the session on) once the worker's other
// ready handlers have run, and the coroutine path when it did not. By then the peer has
// often answered (PostgreSQL on another core) or sent its next transaction (a busy client),
// and the read finds it at once: no failed recv, no wait to arm (epoll_ctl), no readiness
// event to handle. Asio's reactor runs a posted handler without a system call.
// Straight to the executor rather than through asio::post, which would wrap the step in a
// work_dispatcher (an outstanding-work count taken and given back for every step).
template <class Step>
void ClientSession::later(Step step) {
    const auto executor = asio::prefer(client_.get_executor(), asio::execution::blocking.never,
                                       asio::execution::allocator(HandlerAllocator<void, HandlerMemory>(wait_memory_)));
    executor.execute([self = self(), step] {
        EventClock::Scope event;
        const bool overrun = self->traffic_ && self->traffic_->overrun_due;
        if (overrun || !step(*self))
            asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
    });
}

// Between transactions on the quick path: park warm, else the client's next transaction
// when it is there already, else park.
bool ClientSession::next_transaction_or_park() {
    if (drain_ended() || !quick_allowed()) {
        park();  // tells the client of the drain's end, or wakes for the coroutine path
        return true;
    }
    if (traffic_->from_client.buffer.empty() && park_warm()) return true;
    return read_next_transaction();
}

// ---- parked warm ----
//
// A busy client sends its next transaction a moment after it read the answer to the last.
// Parked cold (park()), the session would give its Traffic back, try a read that mostly
// fails, and wait for readiness, which re-arms the socket with epoll_ctl unless Asio's last
// read drained it (proxy/io/asio_patch): up to two system calls per transaction that
// PgBouncer does not make. Parked warm, it keeps its Traffic and leaves
// Asio's read pending on the client socket: when the last read drained the socket (Asio's
// read, done for a readiness event), the read is queued without any system call and done
// when the next readiness event comes. Warm parks hold memory (two 16 KB buffers, and the
// inbox of a TLS client), so a worker keeps at most kWarmLimit of them, and the worker's
// sweep (QuickDeadlines) parks a session cold once it has been warm for kWarmFor: an idle
// client costs what it did before.
namespace {
constexpr std::size_t kWarmLimit = 128;
constexpr Duration kWarmFor = std::chrono::milliseconds(100);
std::size_t& warm_parked_here() {
    thread_local std::size_t count = 0;
    return count;
}
}  // namespace

bool ClientSession::park_warm() {
    // client_idle_timeout runs from the cold park, which arms its timer; a session that
    // should move to another worker moves from there too.
    if (pool_->traffic_limits().client_idle_timeout.count() > 0 || traffic_->opened_transaction) return false;
    if (warm_parked_here() >= kWarmLimit || context_.workers().destination(client_.get_executor())) return false;
    auto& traffic = *traffic_;
    auto& buffer = traffic.from_client.buffer;
    buffer.allocate();
    ++warm_parked_here();
    phase_ = Phase::idle_warm;
    traffic.warm_since = EventClock::now();
    traffic.cooling = false;
    QuickDeadlines::watch(
        traffic.deadline_hook, client_.get_executor(),
        [](void* owner, Clock::time_point now) { static_cast<ClientSession*>(owner)->cool_down(now); }, this);
    client_.async_read_some(asio::buffer(buffer.free_space(), buffer.free_size()),
                            in_memory(traffic.read_memory,
                                      [self = self()](const boost::system::error_code& ec, std::size_t bytes) {
                                          self->on_warm_read(ec, bytes);
                                      }));
    return true;
}

// The worker's sweep: warm for kWarmFor already, the session parks cold. Its read is
// cancelled (no system call) and on_warm_read goes on.
void ClientSession::cool_down(Clock::time_point now) {
    auto& traffic = *traffic_;
    if (phase_ != Phase::idle_warm || traffic.cooling || now - traffic.warm_since < kWarmFor) return;
    QuickDeadlines::forget(traffic.deadline_hook);
    traffic.cooling = true;
    client_.cancel();
}

// The warm park's read is over: the client's next transaction, the sweep's cancel, or
// whatever a cold park's wait would have met (an EOF, KILL, the end of the drain).
void ClientSession::on_warm_read(const boost::system::error_code& ec, std::size_t bytes) {
    EventClock::Scope event;
    --warm_parked_here();
    auto& traffic = *traffic_;
    QuickDeadlines::forget(traffic.deadline_hook);
    const bool cooled = std::exchange(traffic.cooling, false);
    phase_ = Phase::quick;
    traffic.from_client.buffer.commit(bytes);
    if (!ec) {
        if (begin_quick_transaction()) return;
        asio::co_spawn(client_.get_executor(), resume(self(), {}), asio::detached);
        return;
    }
    if (ec == asio::error::operation_aborted) {
        if (cooled && !drain_ended()) {
            park();
            return;
        }
        // KILL or the drain's end: as a cold park's cancelled wait.
        asio::co_spawn(client_.get_executor(), resume(self(), ec), asio::detached);
        return;
    }
    resume_after_read(client_, ec);  // the coroutine path meets the EOF or the error
}

ClientSession::ReadNow ClientSession::read_now(Transport& from, StreamBuffer& buffer) {
    buffer.allocate();
    if (buffer.free_size() == 0) return ReadNow::failed;  // the forwarder grows it
    const auto read = from.read_now(buffer.free_space(), buffer.free_size());
    if (read.status == Transport::Io::would_block) return ReadNow::nothing;
    if (read.status == Transport::Io::closed) return ReadNow::failed;
    buffer.commit(read.bytes);
    return ReadNow::data;
}

// The quick path's reads of the server's answer and of the client's next statement go
// through Asio's own read: on a socket that the last read drained (a read done for a
// readiness event that returned less than it asked for, see proxy/io/asio_patch), the read
// is queued without a system call and done when the worker's epoll reports the socket
// readable, as PgBouncer's loop does. Before that patch Asio tried each read first, and
// about half of those failed (EAGAIN), as did a recv of our own. Over TLS the same read
// fills the Transport's inbox. Its operation lives in Traffic::read_memory; each returns
// false when the buffer is full (the forwarder grows it).

// Inside a transaction, between two of its statements: the session keeps its server and
// waits for the client's next one. (The server says nothing unasked meanwhile; should it
// die, its last words are read with the answer to that next statement.)
bool ClientSession::wait_for_client() {
    return quick_read<false>([](ClientSession& session) { return !session.drain_ended() && session.quick_request(); });
}

bool ClientSession::wait_for_server() {
    return quick_read<true>([](ClientSession& session) { return session.quick_answer(); });
}

// Reads what the server (or the client) sent into its Traffic buffer, then runs `step`; the
// coroutine path goes on when the read failed or `step` did not take the session on. The
// direction is a template argument so that the handler holds no more than the session
// (its operation fits Traffic::read_memory).
template <bool kFromServer, class Step>
bool ClientSession::quick_read(Step) {
    auto& traffic = *traffic_;
    Transport& transport = kFromServer ? traffic.lease->transport() : client_;
    StreamBuffer& buffer = kFromServer ? traffic.from_server.buffer : traffic.from_client.buffer;
    buffer.allocate();
    if (buffer.free_size() == 0) return false;
    transport.async_read_some(
        asio::buffer(buffer.free_space(), buffer.free_size()),
        in_memory(traffic.read_memory, [self = self()](const boost::system::error_code& ec, std::size_t n) {
            EventClock::Scope event;
            auto& traffic = *self->traffic_;
            (kFromServer ? traffic.from_server.buffer : traffic.from_client.buffer).commit(n);
            if (!ec) {
                if (Step{}(*self)) return;  // a lambda without captures: made here, not held
                // (The step may have given the server back: no socket of its to name here.)
                asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
                return;
            }
            self->resume_after_read(kFromServer ? traffic.lease->transport() : self->client_, ec);
        }));
    return true;
}

// The coroutine path after a quick-path read of `socket` that ended with `ec`. After EOF or
// an error (a read of 0 bytes), Asio takes the socket for drained and queues the next read
// without trying it, and no readiness event comes again (edge-triggered): the coroutine
// path's read would wait forever. A wait re-arms the descriptor (epoll_ctl), which reports
// the EOF or the error again and lets the next read try; the coroutine path then meets it.
void ClientSession::resume_after_read(Transport& transport, const boost::system::error_code& ec) {
    auto self = this->self();
    if (!ec || ec == asio::error::operation_aborted) {  // data, or a cancel: the read was not tried
        asio::co_spawn(client_.get_executor(), resume(self, {}), asio::detached);
        return;
    }
    transport.async_wait_readable([self](const boost::system::error_code&) {
        asio::co_spawn(self->client_.get_executor(), self->resume(self, {}), asio::detached);
    });
}

// What the server sent so far, forwarded; then the server goes back to the pool, or the
// session waits for more of the answer or for the client's next statement.
bool ClientSession::quick_answer() {
    auto& traffic = *traffic_;
    auto& server = *traffic.lease;
    SilenceClock& silence = traffic.silence ? *traffic.silence : no_silence_limits();
    ServerToClient to_client{traffic.from_server.plan, server,  settings_, true,     mode_ == config::PoolMode::statement,
                             silence,                  pool_->stats(), traffic.clock, busy_, context_, traffic.watch};
    auto statements = statement_tables(server);
    if (statements) to_client.statements = &*statements;
    to_client.release_early_context = this;
    to_client.release_early = [](void* context, std::size_t unread) {
        auto& session = *static_cast<ClientSession*>(context);
        if (!session.release_before_answer(unread)) return;
        // The transaction is over: its clock goes now, before a write that may not finish
        // here (the coroutine path would otherwise take it for the next transaction's).
        auto& traffic = *session.traffic_;
        QuickDeadlines::forget(traffic.deadline_hook);
        traffic.silence.reset();
        traffic.overrun_due = false;
    };
    const auto step = forward_now(traffic.from_server, client_, to_client);
    // A write left unfinished goes on in the coroutine path (which has no server when it
    // was given back before the write).
    if (!step.written) return false;
    if (step.scan.status == protocol::FrameScanner::Status::stopped) {
        // Statement mode and a transaction block: the coroutine forwarder refuses it.
        traffic.opened_transaction = to_client.opened_transaction;
        if (traffic.lease) return false;  // the server could not go back: the coroutine path decides
        if (!traffic.opened_transaction) return next_transaction_or_park();
        later([](ClientSession& session) { return session.next_transaction_or_park(); });
        return true;
    }
    if (step.scan.status != protocol::FrameScanner::Status::need_more || to_client.wants_client_data) return false;
    if (server.state().awaiting_ready() > 0) return wait_for_server();
    // Every statement answered, the transaction still open: the client speaks next.
    const bool between_statements = traffic.server_drained() && traffic.from_client.buffer.empty();
    if (!between_statements) return false;
    return wait_for_client();
}

// The transaction's last answer is read: the server goes back before the answer is written,
// so a client that reads slowly holds only its own socket. Not when anything else is in
// flight (`unread` bytes follow the ReadyForQuery, or a write to the server is unfinished).
bool ClientSession::release_before_answer(std::size_t unread) {
    auto& traffic = *traffic_;
    // (Nothing owed by the server either: its FIFO of expected answers is empty.)
    if (!traffic.may_release_before_answer(unread, traffic.lease->state()) || !traffic.lease->expected().empty())
        return false;
    traffic.lease->count_prepared(pool_->stats());
    cancel.set(std::nullopt);
    traffic.lease.release_reusable();
    set_state(ClientState::idle);
    return true;
}

}  // namespace pgsluice::proxy
