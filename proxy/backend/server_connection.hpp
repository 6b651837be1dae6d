// One connection from pgsluice to PostgreSQL: connecting (TCP or Unix socket), logging in
// (SCRAM-SHA-256, MD5, cleartext), and what the server told us at login (ParameterStatus,
// BackendKeyData). Owned by one pool slot at a time; used by one session at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "config/config.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/server_state.hpp"
#include "proxy/asio.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/prepared/expected_responses.hpp"
#include "proxy/prepared/server_statements.hpp"
#include "proxy/runtime/event_clock.hpp"

namespace pgsluice::proxy {

// PostgreSQL's parameter names are case-insensitive ("datestyle" is "DateStyle").
bool iequals(std::string_view a, std::string_view b);
struct CaseInsensitiveLess {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const;
};

// Where a CancelRequest for a server goes (a cancel carries no credentials).
struct CancelAddress {
    std::string host;  // hostname, IP, or a Unix socket directory (starts with '/')
    std::uint16_t port = 0;
    bool operator==(const CancelAddress&) const = default;
};
// The one copy of `address`, kept to the end of the process, so that a cancel may read it
// from any thread while the server it came from closes. One per distinct (host, port) ever
// connected to: as many as the configs loaded name.
const CancelAddress& intern_cancel_address(const CancelAddress& address);

// Where and as whom to log in. Secrets live here only in memory; never log this struct.
struct ServerTarget {
    std::string host;  // hostname, IP, or a Unix socket directory (starts with '/')
    std::uint16_t port = 5432;
    std::string dbname;
    std::string user;
    std::optional<std::string> password;  // plaintext
    // MD5 pass-through when only pg_shadow's "md5<hex>" is known (auth_query): PostgreSQL's
    // MD5 answer is md5(that hex + salt), so the hash logs in as the password would.
    std::optional<std::string> md5_hash;
    // SCRAM pass-through when only a verifier is configured: the ClientKey a client proved,
    // and the ServerKey of the configured verifier.
    std::optional<protocol::scram::Key> client_key;
    std::optional<protocol::scram::Key> server_key;
    // What the server may ask for (server_allow_cleartext_password / _md5_password): either
    // hands the password, or a replayable hash of it, to whoever answers on its address.
    bool allow_cleartext = false;
    bool allow_md5 = false;
    int scram_max_iterations = protocol::scram::kMaxServerIterations;  // server_scram_max_iterations
    // The database's server_tls settings, and the context to open TLS with (null when the
    // mode is disable); from the snapshot's tls::TlsContexts. The TLS stream uses them;
    // tls::prepare_server_connection does the verify-full host check per connection.
    config::ServerTls tls;
    std::shared_ptr<SSL_CTX> tls_context;

    std::string address() const;  // "host:port" or the socket path, for logs
};

// Whether a server opened for `a` is one `b` would open: same place, same login, same TLS
// settings (a reload that turns server_tls_sslmode on must not keep plaintext servers).
// What only matters while logging in (allow_cleartext, allow_md5, the iteration cap, the
// TLS context's loaded files) is not compared: an open server already passed it.
bool same_login(const ServerTarget& a, const ServerTarget& b);

// The server refused us or broke the protocol during login. `fields` is what a client may
// be shown (PostgreSQL's own ErrorResponse when there was one).
struct ServerLoginError : std::runtime_error {
    protocol::ErrorFields fields;
    explicit ServerLoginError(protocol::ErrorFields f) : std::runtime_error(f.message), fields(std::move(f)) {}
};

class ServerConnection {
public:
    // Connects and logs in within `timeout`; throws ServerLoginError on any failure.
    static awaitable<std::unique_ptr<ServerConnection>> connect(Executor io_executor,
                                                                const ServerTarget& target, Duration timeout,
                                                                std::uint64_t id);

    Transport& transport() { return transport_; }
    // Re-registers the connection with the io_context of `executor` (the leasing session's
    // worker), so that its I/O completes on that thread without a hop. Only while no
    // operation is pending on it.
    void move_to(const Executor& executor);
    std::uint64_t id() const { return id_; }
    const std::string& address() const { return address_; }
    // Where a CancelRequest for this server's backend goes: the host and port it was opened
    // to, whatever a reload has made of its pool's target since.
    const CancelAddress& cancel_address() const { return *cancel_address_; }
    // This end of the connection as SHOW SERVERS shows it ("unix" for a Unix socket, empty
    // when unknown); read once at connect, so the console never touches a socket that the
    // session holding the server is using (or moving to its worker).
    const std::string& local_addr() const { return local_addr_; }
    std::uint16_t local_port() const { return local_port_; }
    // What the server reported with ParameterStatus (names as the server spells them).
    const std::map<std::string, std::string, CaseInsensitiveLess>& parameters() const { return parameters_; }
    void set_parameter(const std::string& name, const std::string& value) {
        parameters_[name] = value;
        ++parameters_version_;
    }
    // A reported parameter's current value (null: the server does not report it).
    const std::string* reported(std::string_view name) const;
    const std::string* login_parameter(std::string_view name) const;
    // What pgsluice set of the parameters the server does not report (so it cannot tell).
    struct AppliedSetting {
        std::string value;
        bool sql = false;  // as ClientSetting::sql
    };
    using AppliedSettings = std::map<std::string, AppliedSetting, CaseInsensitiveLess>;
    const AppliedSetting* applied(std::string_view name) const;
    const AppliedSettings& applied_settings() const { return applied_; }
    void remember_applied(const std::string& name, AppliedSetting value) {
        applied_[name] = std::move(value);
        ++parameters_version_;
    }
    void forget_applied(std::string_view name) {
        if (auto it = applied_.find(name); it != applied_.end()) applied_.erase(it);
        ++parameters_version_;
    }
    // A client changed this server's session in a way pgsluice did not follow (a SET inside
    // a transaction, DISCARD ALL, ...): the next client's settings start with a restore.
    void mark_needs_restore() {
        needs_restore_ = true;
        ++parameters_version_;
    }
    bool needs_restore() const { return needs_restore_; }
    // The restore ran: the session is as it was at login.
    void restored() {
        needs_restore_ = false;
        forget_all_applied();
    }
    // Whether this server's parameters are known to match `values` (a client's shared
    // settings): it was brought in line with that very copy and reported no change since.
    // The server holds a reference, so the address cannot be reused by other values.
    bool in_sync_with(const std::shared_ptr<const void>& values) const {
        return values && in_sync_with_ == values && synced_version_ == parameters_version_;
    }
    void mark_in_sync(std::shared_ptr<const void> values) {
        in_sync_with_ = std::move(values);
        synced_version_ = parameters_version_;
    }
    // The values the server reported at login, before anyone SET anything: what a client
    // that never set a parameter must see.
    const std::map<std::string, std::string, CaseInsensitiveLess>& login_parameters() const { return login_parameters_; }
    // After a reset query (DISCARD ALL, RESET ALL) the settings pgsluice applied are gone.
    void forget_all_applied() {
        applied_.clear();
        ++parameters_version_;
    }
    // The prepared statements pgsluice keeps on this server (made on first use, at most
    // `capacity`: the pool's max_prepared_statements), and the answers it still owes.
    prepared::ServerStatements& statements(std::size_t capacity) {
        if (!statements_) statements_ = std::make_unique<prepared::ServerStatements>(capacity);
        statements_->set_capacity(capacity);
        return *statements_;
    }
    prepared::ExpectedResponses& expected() { return expected_; }
    // For SHOW SERVERS, from another thread: how many statements the server holds.
    std::size_t prepared_count() const { return prepared_count_.load(std::memory_order_relaxed); }
    // After a step that used the statements: the count for SHOW SERVERS, and what changed
    // in the server's own counters added to its pool's statistics.
    template <class Stats>
    void count_prepared(Stats& stats) {
        if (!statements_) return;
        prepared_count_.store(statements_->size(), std::memory_order_relaxed);
        Stats::add(stats.prepared_parses, statements_->parses_sent() - reported_parses_);
        Stats::add(stats.prepared_hits, statements_->hits() - reported_hits_);
        Stats::add(stats.prepared_misses, statements_->misses() - reported_misses_);
        reported_parses_ = statements_->parses_sent();
        reported_hits_ = statements_->hits();
        reported_misses_ = statements_->misses();
    }
    const protocol::BackendKeyData& backend_key() const { return backend_key_; }
    protocol::ServerState& state() { return state_; }

    Clock::time_point created_at() const { return created_at_; }
    // Written by the session holding the server (or the pool), read by the console's
    // SHOW SERVERS from another worker: an atomic.
    Clock::time_point released_at() const {
        return Clock::time_point(Clock::duration(released_at_.load(std::memory_order_relaxed)));
    }
    void mark_released() { released_at_.store(EventClock::now().time_since_epoch().count(), std::memory_order_relaxed); }
    // Which pool target (Pool::retarget) this server was opened for.
    std::uint64_t generation() const { return generation_; }
    void set_generation(std::uint64_t generation) { generation_ = generation; }

    // Sends one simple Query and reads to its ReadyForQuery, keeping ParameterStatus
    // changes. Returns the first ErrorResponse, if any. Used for reset and SET, never for
    // client traffic. With `first_row`, the first DataRow's columns (NULL as "") land there.
    awaitable<std::optional<protocol::ErrorFields>> run_simple_query(std::string_view sql,
                                                                     std::vector<std::string>* first_row = nullptr);

    void close();

private:
    // The pool's list of its servers on lease, and the admin generation each was leased in
    // (Pool only, under its mutex): no allocation and no second lock per transaction.
    friend class Pool;
    ServerConnection* leased_previous_ = nullptr;
    ServerConnection* leased_next_ = nullptr;
    bool leased_ = false;
    std::uint64_t leased_generation_ = 0;

    std::shared_ptr<const void> in_sync_with_;
    std::uint64_t parameters_version_ = 0;
    std::uint64_t synced_version_ = 0;
    ServerConnection(Socket socket, std::uint64_t id, const ServerTarget& target);
    awaitable<void> negotiate_tls(const ServerTarget& target);
    awaitable<void> login(const ServerTarget& target);

    Transport transport_;
    asio::generic::stream_protocol protocol_{AF_INET, SOCK_STREAM};  // for move_to
    std::uint64_t id_;
    std::string address_;
    const CancelAddress* cancel_address_;
    std::string local_addr_;
    std::uint16_t local_port_ = 0;
    std::map<std::string, std::string, CaseInsensitiveLess> parameters_;
    AppliedSettings applied_;
    bool needs_restore_ = false;
    std::map<std::string, std::string, CaseInsensitiveLess> login_parameters_;
    protocol::BackendKeyData backend_key_;
    protocol::ServerState state_;
    std::unique_ptr<prepared::ServerStatements> statements_;
    prepared::ExpectedResponses expected_;
    std::atomic<std::size_t> prepared_count_{0};
    std::uint64_t reported_parses_ = 0, reported_hits_ = 0, reported_misses_ = 0;
    const Clock::time_point created_at_ = Clock::now();
    std::atomic<Clock::rep> released_at_{created_at_.time_since_epoch().count()};  // equal until the first release
    std::uint64_t generation_ = 0;
};

// Opens a socket to `target` (no login): used for the server connection and for cancels.
awaitable<Socket> open_socket(Executor io_executor, const ServerTarget& target);

}  // namespace pgsluice::proxy
