// Clients that keep committing small transactions through pgsluice while a test breaks
// something, and keep the books: what was acknowledged, what failed and how, how long each
// statement took. Afterwards the table shows whether a committed transaction was lost.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace harness {

class LedgerWriters {
public:
    // Creates table `ledger` through `conninfo` (a pgsluice) and starts `writers` threads,
    // each looping begin; insert (writer, seq); commit on its own connection. A failed
    // connection is replaced, as an application's pool would, after a short pause.
    LedgerWriters(std::string conninfo, int writers);
    ~LedgerWriters();  // stops and joins
    LedgerWriters(const LedgerWriters&) = delete;
    LedgerWriters& operator=(const LedgerWriters&) = delete;

    void stop();

    // Acknowledged commits per writer so far.
    std::vector<int> committed() const;
    // True once every writer acknowledged a commit after `marks` (from committed()).
    bool all_committed_since(const std::vector<int>& marks) const;
    int failures() const { return failures_; }
    long slowest_statement_ms() const { return slowest_ms_; }
    // How the failures looked: "SQLSTATE 57P01", or "no ErrorResponse: <libpq's text>" when
    // the connection just closed. Counts per kind.
    std::map<std::string, int> failure_kinds() const;
    int unclear_failures() const;  // failures with no ErrorResponse behind them

    // Checks the table (through `conninfo`, usually PostgreSQL itself) against the books: every
    // acknowledged commit is there, and nothing beyond the commits whose answer was lost.
    // Returns "" or what is wrong.
    std::string audit(const std::string& conninfo) const;

private:
    void run(int writer);
    void record_failure(const std::string& kind);

    std::string conninfo_;
    std::atomic<bool> running_{true};
    std::vector<std::atomic<int>> committed_;
    std::vector<std::atomic<int>> in_doubt_;  // commit sent, answer lost: may or may not be there
    std::atomic<int> failures_{0};
    std::atomic<long> slowest_ms_{0};
    mutable std::mutex kinds_mutex_;
    std::map<std::string, int> kinds_;
    std::vector<std::thread> threads_;
};

}  // namespace harness
