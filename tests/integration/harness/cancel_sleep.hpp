// A query cancelled through pgsluice, as a client does it: for the cancel tests.
#pragma once

#include <string>
#include <thread>

#include "harness/pq.hpp"
#include "harness/postgres_server.hpp"

namespace harness {

// A `select pg_sleep(60)` sent by `client` (through pgsluice) in a thread of its own and
// watched by the superuser on `runs_on`, the server it is expected to run on. The
// constructor returns once it runs there, or after 10 s (started() says which).
class CancellableSleep {
public:
    CancellableSleep(Connection& client, const PostgresServer& runs_on);
    ~CancellableSleep();  // a sleep still running is ended by the superuser
    CancellableSleep(const CancellableSleep&) = delete;
    CancellableSleep& operator=(const CancellableSleep&) = delete;

    bool started() const { return started_; }
    // Sends a cancel through pgsluice (PQcancel with the key pgsluice gave the client) and
    // returns how the sleep ended: its SQLSTATE ("57014" when the cancel reached it),
    // "missed: " and its SQLSTATE when it still ran 10 s later (the superuser then ends it,
    // so that the test ends either way), or "never started: " and how it ended.
    std::string cancel();

private:
    void end_by_superuser();

    Connection& client_;
    Connection monitor_;
    std::string state_ = "not ended";  // written by the thread, read after the join
    std::thread sleeper_;
    bool started_ = false;
};

// A sleep started and cancelled at once: CancellableSleep(client, runs_on).cancel().
std::string cancel_sleep(Connection& client, const PostgresServer& runs_on);

}  // namespace harness
