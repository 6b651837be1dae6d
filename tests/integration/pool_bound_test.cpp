// The pool bound holds: PostgreSQL never sees more server connections than configured.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {
// Server connections pgsluice holds, asked of PostgreSQL directly.
int app_backends(Connection& monitor) {
    return std::stoi(monitor.scalar(
        "select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'"));
}
}  // namespace

TEST_CASE("with pool size 2, ten concurrent clients all finish over at most 2 server connections", "[integration][threads]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, Pgsluice::basic_config(mode, 2, "  query_wait_timeout: 60s\n"));
    Connection monitor(postgres.superuser_conninfo());

    std::atomic<int> finished{0};
    std::atomic<bool> sampling{true};
    std::atomic<int> most_seen{0};
    std::thread sampler([&] {
        Connection sampler_connection(postgres.superuser_conninfo());
        while (sampling) {
            int now = app_backends(sampler_connection);
            if (now > most_seen) most_seen = now;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    std::vector<std::thread> clients;
    std::atomic<int> failures{0};
    for (int i = 0; i < 10; ++i) {
        clients.emplace_back([&, i] {
            try {
                Connection client(proxy.conninfo());
                for (int q = 0; q < 5; ++q) {
                    if (client.scalar("select " + std::to_string(i * 100 + q) + " from pg_sleep(0.02)") !=
                        std::to_string(i * 100 + q))
                        ++failures;
                }
                ++finished;
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& client : clients) client.join();
    sampling = false;
    sampler.join();
    CHECK(finished == 10);
    CHECK(failures == 0);
    CHECK(most_seen >= 1);
    CHECK(most_seen <= 2);
    CHECK(app_backends(monitor) <= 2);
}

TEST_CASE("a client beyond the bound waits and gets 53300 when query_wait_timeout passes", "[integration][threads]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 1, "  query_wait_timeout: 1s\n"));
    Connection holder(proxy.conninfo());
    CHECK(holder.scalar("select 1") == "1");
    const auto started = std::chrono::steady_clock::now();
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "53300");
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= std::chrono::milliseconds(900));
    CHECK(waited < std::chrono::seconds(10));
    // The log line is written after the error reaches the client: wait for it.
    CHECK(proxy.wait_for_log("query_wait_timeout"));
    // The holder is unaffected, and once it leaves the next client gets the server.
    CHECK(holder.scalar("select 2") == "2");
}

TEST_CASE("waiting clients are served in arrival order as servers free up", "[integration][threads]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 1, "  query_wait_timeout: 30s\n"));
    auto holder = std::make_unique<Connection>(proxy.conninfo());
    std::vector<int> order;
    std::mutex order_mutex;
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i) {
        waiters.emplace_back([&, i] {
            Connection client(proxy.conninfo());  // blocks in login until a server frees up
            std::lock_guard lock(order_mutex);
            order.push_back(i);
        });
        // Each waiter must be queued before the next one arrives.
        REQUIRE(proxy.wait_for_log("client waits", std::chrono::seconds(10)));
        const auto count = [&] {
            std::size_t n = 0, at = 0;
            auto log = proxy.log();
            while ((at = log.find("client waits", at)) != std::string::npos) ++n, ++at;
            return n;
        };
        REQUIRE(wait_until([&] { return count() >= static_cast<std::size_t>(i + 1); }));
    }
    holder.reset();
    for (auto& waiter : waiters) waiter.join();
    CHECK(order == std::vector<int>{0, 1, 2});
}
