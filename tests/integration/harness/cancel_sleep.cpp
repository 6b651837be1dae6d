#include "harness/cancel_sleep.hpp"

#include "harness/wait.hpp"

namespace harness {

namespace {
constexpr const char* kRunning =
    "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'";
}  // namespace

CancellableSleep::CancellableSleep(Connection& client, const PostgresServer& runs_on)
    : client_(client), monitor_(runs_on.superuser_conninfo()) {
    sleeper_ = std::thread([this] {
        try {
            client_.exec("select pg_sleep(60)");
            state_ = "finished";
        } catch (const PgError& e) {
            state_ = e.sqlstate;
        }
    });
    started_ = wait_until([&] { return monitor_.scalar(kRunning) == "1"; });
}

CancellableSleep::~CancellableSleep() {
    if (!sleeper_.joinable()) return;  // cancel() joined it
    try {
        end_by_superuser();
    } catch (const std::exception&) {
        // PostgreSQL is gone already: the sleep ended with it.
    }
    sleeper_.join();
}

void CancellableSleep::end_by_superuser() {
    monitor_.exec("select pg_cancel_backend(pid) from pg_stat_activity where query = 'select pg_sleep(60)'");
}

std::string CancellableSleep::cancel() {
    PGcancel* request = PQgetCancel(client_.raw());
    char error[256];
    const bool sent = PQcancel(request, error, sizeof error) == 1;
    PQfreeCancel(request);
    const bool stopped = started_ && sent && wait_until([&] { return monitor_.scalar(kRunning) == "0"; });
    if (!stopped) end_by_superuser();  // the cancel went elsewhere, or the thread waits a minute
    sleeper_.join();
    if (!started_) return "never started: " + state_;
    return stopped ? state_ : "missed: " + state_;
}

std::string cancel_sleep(Connection& client, const PostgresServer& runs_on) {
    return CancellableSleep(client, runs_on).cancel();
}

}  // namespace harness
