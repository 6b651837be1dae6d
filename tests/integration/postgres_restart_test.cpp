// PostgreSQL restarts under load: clients in the middle of short transactions get clean
// errors, never a hang, and pgsluice serves every one of them again once it is back.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

struct ClientLoop {
    std::atomic<int> served{0};
    std::atomic<int> failed{0};
    std::atomic<long> slowest_ms{0};
};

}  // namespace

TEST_CASE("PostgreSQL restarted under load: clean errors, then every client is served again", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 3,
                                                    "  query_wait_timeout: 5s\n  server_connect_timeout: 2s\n"));
    constexpr int kClients = 6;
    std::vector<ClientLoop> loops(kClients);
    std::atomic<bool> running{true};
    std::mutex errors_mutex;
    std::vector<std::string> unclean;  // failures that were not a PostgreSQL error or a closed connection

    std::vector<std::thread> threads;
    // Stops and joins the clients however the test body ends: an exception from the
    // harness (PostgreSQL failing to start again, say) then reaches Catch with its message
    // instead of std::terminate on a joinable thread.
    struct JoinAll {
        std::atomic<bool>& running;
        std::vector<std::thread>& threads;
        ~JoinAll() {
            running = false;
            for (auto& thread : threads)
                if (thread.joinable()) thread.join();
        }
    } join_all{running, threads};
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            std::unique_ptr<Connection> client;
            while (running) {
                const auto started = std::chrono::steady_clock::now();
                try {
                    if (!client) client = std::make_unique<Connection>(proxy.conninfo());
                    client->exec("begin");
                    const auto value = client->scalar("select " + std::to_string(i));
                    client->exec("commit");
                    if (value == std::to_string(i)) ++loops[i].served;
                } catch (const PgError&) {
                    ++loops[i].failed;
                    client.reset();  // a new connection, as an application's pool would
                    std::this_thread::sleep_for(20ms);  // pace the retries, do not spin
                } catch (const std::exception& e) {
                    std::lock_guard lock(errors_mutex);
                    unclean.push_back(e.what());
                    client.reset();
                }
                const long took = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started)
                                      .count();
                if (took > loops[i].slowest_ms) loops[i].slowest_ms = took;
                std::this_thread::sleep_for(5ms);
            }
        });
    }
    auto all_served_since = [&](const std::vector<int>& marks) {
        for (int i = 0; i < kClients; ++i)
            if (loops[i].served <= marks[i]) return false;
        return true;
    };
    auto marks = [&] {
        std::vector<int> m;
        for (auto& loop : loops) m.push_back(loop.served);
        return m;
    };

    CHECK(wait_until([&] { return all_served_since(std::vector<int>(kClients, 2)); }, 20s));
    postgres.stop();
    auto failed_total = [&] {
        int n = 0;
        for (auto& loop : loops) n += loop.failed;
        return n;
    };
    CHECK(wait_until([&] { return failed_total() >= kClients; }, 20s));  // errors come, and come soon
    postgres.start();
    const auto after_restart = marks();
    CHECK(wait_until([&] { return all_served_since(after_restart); }, 30s));
    running = false;
    for (auto& thread : threads) thread.join();

    CHECK(unclean.empty());
    CHECK(proxy.running());  // the same pgsluice process throughout
    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i << ": served " << loops[i].served << ", failed " << loops[i].failed);
        CHECK(loops[i].slowest_ms < 10'000);  // no hang: bounded by server_connect_timeout, query_wait_timeout
    }
}
