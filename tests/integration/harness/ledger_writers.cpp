// Writers for fault-injection tests, and the audit of what they committed.
#include "harness/ledger_writers.hpp"

#include <memory>

#include "harness/pq.hpp"

namespace harness {

namespace {

using Clock = std::chrono::steady_clock;

// "SQLSTATE 57P01" when an ErrorResponse reached the client (libpq keeps the text of a
// FATAL it read before the close even when the result lost its fields), else what libpq said.
std::string kind_of(const PgError& error) {
    if (!error.sqlstate.empty()) return "SQLSTATE " + error.sqlstate;
    const std::string text = error.what();
    for (const char* severity : {"FATAL:  ", "ERROR:  "}) {
        const auto at = text.find(severity);
        if (at == std::string::npos) continue;
        const auto code = text.substr(at + 8, 5);  // verbose messages: "FATAL:  57P01: ..."
        if (code.size() == 5 && text.compare(at + 13, 1, ":") == 0) return "SQLSTATE " + code;
        return std::string("ErrorResponse: ") + text.substr(at, text.find('\n', at) - at);
    }
    return "no ErrorResponse: " + text.substr(0, text.find('\n'));
}

// Raises `slowest` to the time from construction to destruction: a statement's time counts
// whether it returns or throws.
class SlowestOf {
public:
    explicit SlowestOf(std::atomic<long>& slowest) : slowest_(slowest) {}
    ~SlowestOf() {
        const long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
        long seen = slowest_;
        while (ms > seen && !slowest_.compare_exchange_weak(seen, ms)) {}
    }
    SlowestOf(const SlowestOf&) = delete;
    SlowestOf& operator=(const SlowestOf&) = delete;

private:
    std::atomic<long>& slowest_;
    Clock::time_point started_ = Clock::now();
};

}  // namespace

LedgerWriters::LedgerWriters(std::string conninfo, int writers)
    : conninfo_(std::move(conninfo)), committed_(writers), in_doubt_(writers) {
    Connection setup(conninfo_);
    setup.exec("create table if not exists ledger (writer int, seq int, primary key (writer, seq))");
    for (int i = 0; i < writers; ++i) threads_.emplace_back([this, i] { run(i); });
}

LedgerWriters::~LedgerWriters() { stop(); }

void LedgerWriters::stop() {
    running_ = false;
    for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
}

void LedgerWriters::run(int writer) {
    std::unique_ptr<Connection> connection;
    int seq = 0;
    std::string step;  // what failed, for the failure's kind: "login" or the statement's first word
    auto exec = [&](const std::string& sql) {
        step = sql.substr(0, sql.find(' '));
        SlowestOf clock(slowest_ms_);
        connection->exec(sql);
    };
    while (running_) {
        bool commit_sent = false;
        try {
            if (!connection) {
                SlowestOf clock(slowest_ms_);
                step = "login";
                connection = std::make_unique<Connection>(conninfo_);
                PQsetErrorVerbosity(connection->raw(), PQERRORS_VERBOSE);
            }
            ++seq;
            exec("begin");
            exec("insert into ledger (writer, seq) values (" + std::to_string(writer) + ", " + std::to_string(seq) + ")");
            commit_sent = true;
            exec("commit");
            ++committed_[writer];
        } catch (const PgError& e) {
            if (commit_sent) ++in_doubt_[writer];
            record_failure(kind_of(e) + " (" + step + ")");
            connection.reset();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // pace the retries
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void LedgerWriters::record_failure(const std::string& kind) {
    ++failures_;
    std::lock_guard lock(kinds_mutex_);
    ++kinds_[kind];
}

std::vector<int> LedgerWriters::committed() const {
    std::vector<int> out;
    for (const auto& count : committed_) out.push_back(count);
    return out;
}

bool LedgerWriters::all_committed_since(const std::vector<int>& marks) const {
    for (std::size_t i = 0; i < committed_.size(); ++i)
        if (committed_[i] <= marks[i]) return false;
    return true;
}

std::map<std::string, int> LedgerWriters::failure_kinds() const {
    std::lock_guard lock(kinds_mutex_);
    return kinds_;
}

int LedgerWriters::unclear_failures() const {
    int n = 0;
    for (const auto& [kind, count] : failure_kinds())
        if (kind.starts_with("no ErrorResponse")) n += count;
    return n;
}

std::string LedgerWriters::audit(const std::string& conninfo) const {
    Connection check(conninfo);
    std::string problems;
    for (std::size_t i = 0; i < committed_.size(); ++i) {
        const int rows = std::stoi(check.scalar("select count(*) from ledger where writer = " + std::to_string(i)));
        const int acknowledged = committed_[i];
        const int at_most = acknowledged + in_doubt_[i];
        if (rows < acknowledged || rows > at_most)
            problems += "writer " + std::to_string(i) + ": " + std::to_string(rows) + " rows, " +
                        std::to_string(acknowledged) + " commits acknowledged, " + std::to_string(in_doubt_[i]) +
                        " in doubt; ";
    }
    return problems;
}

}  // namespace harness
