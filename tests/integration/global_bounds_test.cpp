// The bounds beyond one pool: max_db_connections across users, max_user_connections across
// databases, the reserve pool, and many clients over a small pool, as PostgreSQL sees them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/backend_sampler.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

const std::string kUsers = std::string("users:\n  app: {password: {env: APP_PASSWORD}}\n  other: {password: ") +
                           PostgresServer::kOtherPassword + "}\n";

// Runs `per_client` short transactions on each of `clients` connections; returns failures,
// the first one's message in `first_error` (Catch2's macros are not for other threads).
int run_clients(const std::vector<std::string>& conninfos, int per_client, std::string& first_error) {
    std::atomic<int> failures{0};
    std::mutex error_mutex;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < conninfos.size(); ++i) {
        threads.emplace_back([&, i] {
            try {
                Connection client(conninfos[i]);
                for (int t = 0; t < per_client; ++t) {
                    const auto value = std::to_string(i * 1000 + t);
                    if (client.scalar("select " + value + " from pg_sleep(0.01)") != value) ++failures;
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(error_mutex);
                if (first_error.empty()) first_error = "client " + std::to_string(i) + ": " + e.what();
                ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    return failures;
}

}  // namespace

TEST_CASE("max_db_connections caps the servers of one database across its users' pools", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 3\n  query_wait_timeout: 60s\n") +
                                 "databases:\n  app: {host: 127.0.0.1, port: {PG_PORT}, max_db_connections: 4}\n" +
                                 kUsers);
    std::vector<std::string> clients;
    for (int i = 0; i < 8; ++i) {
        clients.push_back(proxy.conninfo());
        clients.push_back(proxy.conninfo("other", PostgresServer::kOtherPassword));
    }
    BackendSampler sampler(postgres, "datname = 'app' and usename in ('app', 'other')");
    std::string first_error;
    const int failures = run_clients(clients, 10, first_error);
    INFO(first_error);
    CHECK(failures == 0);
    const int most = sampler.stop();
    CHECK(sampler.samples() > 0);
    CHECK(most >= 1);
    CHECK(most <= 4);
}

TEST_CASE("a pool held back by max_db_connections gets a server another user's pool left idle", "[integration][threads]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n  query_wait_timeout: 5s\n") +
                                 "databases:\n  app: {host: 127.0.0.1, port: {PG_PORT}, max_db_connections: 2}\n" +
                                 kUsers);
    {
        // User app fills the database's cap, then leaves both servers idle in its pool.
        Connection a1(proxy.conninfo());
        Connection a2(proxy.conninfo());
        a1.exec("begin");
        a2.exec("begin");
        a1.exec("select 1");
        a2.exec("select 1");
        a1.exec("commit");
        a2.exec("commit");
    }
    BackendSampler sampler(postgres, "datname = 'app' and usename in ('app', 'other')");
    const auto started = std::chrono::steady_clock::now();
    Connection b(proxy.conninfo("other", PostgresServer::kOtherPassword));
    CHECK(b.scalar("select current_user") == "other");                         // not 53300 after 5 s
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    CHECK(proxy.wait_for_log("making room for pool app/other"));
    CHECK(sampler.stop() <= 2);
}

TEST_CASE("max_user_connections caps one user's servers across databases, the user's value first", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres,
                   Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 3\n  query_wait_timeout: 60s\n"
                                 "  max_user_connections: 50\n") +
                       "databases:\n"
                       "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
                       "  app_b: {host: 127.0.0.1, port: {PG_PORT}, dbname: app}\n"
                       "users:\n  app: {password: {env: APP_PASSWORD}, max_user_connections: 4}\n");
    std::vector<std::string> clients;
    for (int i = 0; i < 8; ++i) {
        clients.push_back(proxy.conninfo());
        clients.push_back(proxy.conninfo("app", PostgresServer::kAppPassword, "app_b"));
    }
    BackendSampler sampler(postgres, "usename = 'app'");
    std::string first_error;
    const int failures = run_clients(clients, 10, first_error);
    INFO(first_error);
    CHECK(failures == 0);
    const int most = sampler.stop();
    CHECK(most >= 1);
    CHECK(most <= 4);
}

TEST_CASE("the reserve pool serves a client that waited reserve_pool_timeout, within its size",
          "[integration][serial]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1,
                                                    "  reserve_pool_size: 1\n  reserve_pool_timeout: 300ms\n"
                                                    "  query_wait_timeout: 10s\n"));
    BackendSampler sampler(postgres, "usename = 'app'");
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    holder.exec("select 1");  // holds the pool's only server

    std::atomic<int> served{0};
    std::vector<std::chrono::milliseconds> waited(2);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
            const auto started = std::chrono::steady_clock::now();
            try {
                Connection client(proxy.conninfo());
                if (client.scalar("select 'served' from pg_sleep(0.1)") == "served") ++served;
            } catch (const std::exception&) {
                // counted by `served`
            }
            waited[i] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(served == 2);  // both, one after the other, over the one reserve server
    for (auto w : waited) {
        CHECK(w >= std::chrono::milliseconds(250));
        CHECK(w < std::chrono::seconds(5));
    }
    CHECK(proxy.wait_for_log("opening a reserve server"));
    holder.exec("commit");
    CHECK(sampler.stop() <= 2);
}

// The pool's one wait timer stays set for the deadline of a client that was refused the
// reserve pool and then served; a client queueing after it must still get the reserve at its
// own reserve_pool_timeout, not at that stale deadline (this took 10 s before the fix).
TEST_CASE("a client queueing after one that was refused the reserve still gets it at reserve_pool_timeout",
          "[integration][serial]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1,
                                                    "  reserve_pool_size: 1\n  reserve_pool_timeout: 300ms\n"
                                                    "  query_wait_timeout: 10s\n"));
    // Logged in while the pool is free: from here on, only their queries wait.
    Connection holder(proxy.conninfo()), first(proxy.conninfo()), second(proxy.conninfo()), third(proxy.conninfo());
    Connection observer(postgres.superuser_conninfo());
    holder.exec("begin");
    holder.exec("select 1");  // holds the pool's only server

    // `first` gets the reserve server and keeps it 1.5 s; `second` queues meanwhile, is
    // refused the reserve (it is in use) and is served when `first` is done.
    std::thread first_thread([&] { first.exec("select pg_sleep(1.5)"); });
    const bool first_running = wait_until([&] {
        return observer.scalar("select count(*) from pg_stat_activity where query = 'select pg_sleep(1.5)' "
                               "and state = 'active'") == "1";
    });
    std::thread second_thread([&] { second.exec("select pg_sleep(0.1)"); });
    first_thread.join();
    second_thread.join();
    REQUIRE(first_running);

    const auto started = std::chrono::steady_clock::now();
    CHECK(third.scalar("select 'served'") == "served");
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= std::chrono::milliseconds(250));
    CHECK(waited < std::chrono::seconds(3));
    holder.exec("commit");
}

TEST_CASE("pgbench with 200 clients x 20 transactions over pool size 5 never opens more than 5 servers", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 5, "  query_wait_timeout: 60s\n"));
    TempDir dir("pgsluice-pgbench");
    write_file(dir.path() + "/script.sql", "\\set x random(1, 1000)\nselect :x;\n");
    BackendSampler sampler(postgres, "usename = 'app'");
    const std::string log = dir.path() + "/pgbench.log";
    const int rc = run_command({{"/usr/lib/postgresql/15/bin/pgbench", "-n", "-c", "200", "-j", "2", "-t", "20", "-f",
                                 dir.path() + "/script.sql", "-h", "127.0.0.1", "-p", std::to_string(proxy.port()),
                                 "-U", "app", "app"},
                                log,
                                "",
                                {std::string("PGPASSWORD=") + PostgresServer::kAppPassword}},
                               90000);
    const int most = sampler.stop();
    const auto output = read_file(log);
    INFO(output);
    CHECK(rc == 0);
    CHECK(output.find("number of transactions actually processed: 4000/4000") != std::string::npos);
    CHECK(sampler.samples() > 0);
    CHECK(most >= 1);
    CHECK(most <= 5);
}

TEST_CASE("under max_db_connections a busy user's pool does not starve another user's pool", "[integration][threads]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n  query_wait_timeout: 4s\n") +
                                 "databases:\n  app: {host: 127.0.0.1, port: {PG_PORT}, max_db_connections: 2}\n" +
                                 kUsers);
    BackendSampler sampler(postgres, "datname = 'app' and usename in ('app', 'other')");
    // User app keeps more clients busy than the database's cap, so its pool always has waiters.
    std::atomic<bool> busy{true};
    std::atomic<int> app_transactions{0};
    std::vector<std::thread> flood;
    for (int i = 0; i < 5; ++i) {
        flood.emplace_back([&] {
            try {
                Connection client(proxy.conninfo());
                while (busy) {
                    client.exec("select pg_sleep(0.02)");
                    ++app_transactions;
                }
            } catch (const std::exception&) {
                // counted by app_transactions
            }
        });
    }
    CHECK(wait_until([&] { return app_transactions >= 10; }));
    // The other user's transactions get a server within query_wait_timeout, one after another.
    int other_served = 0;
    std::string other_error;
    try {
        Connection other(proxy.conninfo("other", PostgresServer::kOtherPassword));
        for (int t = 0; t < 5; ++t)
            if (other.scalar("select current_user") == "other") ++other_served;
    } catch (const std::exception& e) {
        other_error = e.what();
    }
    const int before = app_transactions;
    const bool app_went_on = wait_until([&] { return app_transactions >= before + 10; });
    busy = false;
    for (auto& thread : flood) thread.join();
    INFO(other_error);
    CHECK(other_served == 5);
    CHECK(app_went_on);
    CHECK(sampler.stop() <= 2);
}
