#include "harness/cancel_sleep.hpp"

#include <thread>

#include "harness/wait.hpp"

namespace harness {

std::string cancel_sleep(Connection& client, const PostgresServer& runs_on) {
    std::string state = "not ended";
    std::thread sleeper([&] {
        try {
            client.exec("select pg_sleep(60)");
            state = "finished";
        } catch (const PgError& e) {
            state = e.sqlstate;
        }
    });
    Connection monitor(runs_on.superuser_conninfo());
    const std::string running =
        "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'";
    const bool started = harness::wait_until([&] { return monitor.scalar(running) == "1"; });
    PGcancel* cancel = PQgetCancel(client.raw());
    char error[256];
    const bool sent = PQcancel(cancel, error, sizeof error) == 1;
    PQfreeCancel(cancel);
    const bool stopped = started && sent && harness::wait_until([&] { return monitor.scalar(running) == "0"; });
    if (!stopped)  // the cancel went elsewhere: end the sleep here, or the thread waits a minute
        monitor.exec("select pg_cancel_backend(pid) from pg_stat_activity where query = 'select pg_sleep(60)'");
    sleeper.join();
    if (!started) return "never started: " + state;
    return stopped ? state : "missed: " + state;
}

}  // namespace harness
