// A server's SCRAM challenge may ask for millions of PBKDF2 rounds (PostgreSQL keeps whatever
// verifier it was given). Deriving the key takes a second or more: it must not stop the
// worker thread that serves the clients already logged in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "protocol/auth/scram.hpp"

using namespace harness;

TEST_CASE("a server login with an expensive SCRAM challenge does not stall the clients of its worker",
          "[integration]") {
    PostgresServer postgres;
    {
        const auto verifier = pgsluice::protocol::scram::Verifier::from_password(PostgresServer::kAppPassword,
                                                                                  "pgsluice-slow-salt", 1'000'000);
        Connection admin(postgres.superuser_conninfo());
        admin.exec("alter role app password '" + verifier.to_string() + "'");
    }
    // One worker: without a thread of its own the derivation would run where `fast` is served.
    // Two databases, two pools: `fast` is logged in (its pool paid already), `slow` is new.
    Pgsluice proxy(postgres,
                   "listen: {address: 127.0.0.1, port: {PORT}}\n"
                   "workers: 1\n"
                   "metrics: {enabled: false}\n"
                   "defaults: {pool_mode: transaction, pool_size: 2, server_connect_timeout: 60s}\n"
                   "databases:\n"
                   "  fast: {host: 127.0.0.1, port: {PG_PORT}, dbname: app}\n"
                   "  slow: {host: 127.0.0.1, port: {PG_PORT}, dbname: app}\n"
                   "users:\n"
                   "  app: {password: {env: APP_PASSWORD}}\n");
    Connection fast(proxy.conninfo("app", PostgresServer::kAppPassword, "fast") + " connect_timeout=120");
    CHECK(fast.scalar("select 1") == "1");

    std::atomic<bool> logging_in{true};
    auto login = std::async(std::launch::async, [&] {
        const auto started = std::chrono::steady_clock::now();
        Connection slow(proxy.conninfo("app", PostgresServer::kAppPassword, "slow") + " connect_timeout=120");
        const auto took = std::chrono::steady_clock::now() - started;
        logging_in = false;
        return took;
    });
    std::vector<double> latencies_ms;
    while (logging_in && latencies_ms.size() < 100000) {
        const auto started = std::chrono::steady_clock::now();
        CHECK(fast.scalar("select 1") == "1");
        latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    }
    const auto login_took = login.get();
    // The derivation really was slow, and the other client went on meanwhile.
    CHECK(login_took >= std::chrono::milliseconds(300));
    REQUIRE(!latencies_ms.empty());
    const double slowest = *std::max_element(latencies_ms.begin(), latencies_ms.end());
    const double login_ms = std::chrono::duration<double, std::milli>(login_took).count();
    INFO("server login took " << login_ms << " ms; " << latencies_ms.size() << " queries meanwhile, the slowest "
                              << slowest << " ms");
    CHECK(latencies_ms.size() >= 10);
    CHECK(slowest < 250.0);
}
