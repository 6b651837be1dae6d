// Clients use as few worker threads as carry them (worker_spread_above): idle clients move to
// the workers that serve, between two transactions, with their session state, and sessions
// moving under load lose no transaction and break no bound.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <cstdio>
#include <thread>
#include <vector>

#include "harness/backend_sampler.hpp"
#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/process.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

// basic_config with the metrics endpoint on and `worker_spread_above` set to `percent`.
std::string spread_config(int percent, int pool_size) {
    auto yaml = Pgsluice::basic_config("transaction", pool_size);
    const std::string spread = "worker_spread_above: 0\n";
    yaml.replace(yaml.find(spread), spread.size(), "worker_spread_above: " + std::to_string(percent) + "\n");
    const std::string off = "metrics: {enabled: false}\n";
    yaml.replace(yaml.find(off), off.size(), "metrics: {enabled: true, address: 127.0.0.1, port: {METRICS_PORT}}\n");
    return yaml;
}

double metric(const Pgsluice& proxy, const std::string& name, const std::vector<std::string>& labels = {}) {
    const auto response = http_get(proxy.metrics_port(), "/metrics");
    if (response.status != 200) return -1;
    return sample(response.body, name, labels).value_or(-1);
}

double clients_on(const Pgsluice& proxy, int worker) {
    return metric(proxy, "pgsluice_worker_clients", {"worker=\"" + std::to_string(worker) + "\""});
}

// CPU time, in milliseconds, of one pgsluice thread: what top -H shows a worker using.
// Worker 0 is the main thread; the others are named pgsluice-w1, ...
// Read from schedstat (nanoseconds the scheduler ran the thread), not from stat's utime and
// stime: those are two clock ticks (10 ms) each rounded down, so the difference of two
// readings is off by up to 20 ms, as much as an idle worker's whole budget here.
double worker_cpu_ms(Pgsluice& proxy, int worker) {
    const auto tasks = "/proc/" + std::to_string(proxy.process().pid()) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
        const bool wanted = worker == 0 ? task.path().filename() == std::to_string(proxy.process().pid())
                                        : read_file(task.path() / "comm") == "pgsluice-w" + std::to_string(worker) + "\n";
        if (!wanted) continue;
        return std::stod(read_file(task.path() / "schedstat")) / 1e6;  // first field: on-CPU ns
    }
    return -1;
}

// Runs transactions on every client, for long enough to show in the threads' CPU times.
void keep_busy(std::vector<Connection>& clients) {
    for (int round = 0; round < 100; ++round)
        for (auto& client : clients) CHECK(client.scalar("select 1") == "1");
}

void switch_spread(Pgsluice& proxy, int percent, int pool_size) {
    proxy.write_config(spread_config(percent, pool_size));
    REQUIRE(proxy.reload());
}

}  // namespace

TEST_CASE("idle clients move to the workers that take clients, between transactions, keeping their settings",
          "[integration][threads]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, spread_config(0, 2));
    // Over TCP and over the Unix socket: a socket moves with its own kind of address.
    const bool unix_socket = GENERATE(false, true);
    auto conninfo = proxy.conninfo();
    if (unix_socket) conninfo.replace(conninfo.find("host=127.0.0.1"), 14, "host=" + proxy.socket_dir());
    // worker_spread_above 0: both workers take clients, round robin.
    std::vector<Connection> clients;
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back(conninfo);
        clients.back().exec("set application_name = 'client-" + std::to_string(i) + "'");
    }
    CHECK(wait_until([&] { return clients_on(proxy, 0) == 4 && clients_on(proxy, 1) == 4; }));
    CHECK(metric(proxy, "pgsluice_workers_serving") == 2);
    // A connection still logging in counts on its worker too, so a client may have moved
    // already to even out the counts: count the moves from here.
    const double moves_before = metric(proxy, "pgsluice_worker_moves_total");

    // Idle, the load fits on one worker: the second stops taking clients within a second or
    // two, and each client moves to the first once its next transaction is done.
    switch_spread(proxy, 70, 2);
    REQUIRE(wait_until([&] { return metric(proxy, "pgsluice_workers_serving") == 1; }));
    for (int i = 0; i < 8; ++i)
        CHECK(clients[i].scalar("select current_setting('application_name')") == "client-" + std::to_string(i));
    CHECK(wait_until([&] { return clients_on(proxy, 0) == 8 && clients_on(proxy, 1) == 0; }));
    CHECK(metric(proxy, "pgsluice_worker_moves_total") == moves_before + 4);
    // The work is all on the first worker now: the second one's thread stays idle.
    {
        const auto first = worker_cpu_ms(proxy, 0), second = worker_cpu_ms(proxy, 1);
        keep_busy(clients);
        const auto first_used = worker_cpu_ms(proxy, 0) - first, second_used = worker_cpu_ms(proxy, 1) - second;
        CAPTURE(first_used, second_used);
        CHECK(first_used >= 50);
        // Idle, the second only wakes for its heartbeat: far below a tenth of the first's work
        // (a bound relative to the work done holds on a slow machine as on a fast one).
        CHECK(second_used <= first_used / 10);
    }
    // Where they are now, they are the same sessions: their settings, their transactions.
    for (int i = 0; i < 8; ++i) {
        auto& client = clients[i];
        client.exec("begin");
        client.exec("set local statement_timeout = '5s'");
        CHECK(client.scalar("show statement_timeout") == "5s");
        CHECK(client.scalar("select current_setting('application_name')") == "client-" + std::to_string(i));
        client.exec("commit");
        CHECK(client.scalar("show statement_timeout") == "0");
    }

    // Both take clients again: clients spread out as they finish transactions, four each.
    switch_spread(proxy, 0, 2);
    REQUIRE(wait_until([&] { return metric(proxy, "pgsluice_workers_serving") == 2; }));
    for (auto& client : clients) CHECK(client.scalar("select 1") == "1");
    CHECK(wait_until([&] { return clients_on(proxy, 0) == 4 && clients_on(proxy, 1) == 4; }));
    CHECK(metric(proxy, "pgsluice_worker_moves_total") == moves_before + 8);
    // And the second worker's thread does its share of the work again.
    {
        const auto second = worker_cpu_ms(proxy, 1);
        keep_busy(clients);
        CHECK(worker_cpu_ms(proxy, 1) - second >= 30);
    }
    for (int i = 0; i < 8; ++i)
        CHECK(clients[i].scalar("select current_setting('application_name')") == "client-" + std::to_string(i));

    // A client that leaves is counted off the worker it left from.
    clients.pop_back();
    CHECK(wait_until([&] { return clients_on(proxy, 0) + clients_on(proxy, 1) == 7; }));
}

TEST_CASE("sessions moving between workers under load lose no transaction and never exceed the pool size",
          "[integration][threads]") {
    PostgresServer postgres;
    {
        Connection setup(postgres.superuser_conninfo("app"));
        setup.exec("create table moves (client int primary key, n int not null)");
        setup.exec("grant all on moves to app");
    }
    constexpr int kPoolSize = 3, kClients = 20;
    // 100: the second worker takes clients only if the first is busier than one whole core,
    // which it cannot be, so every client starts on the first worker.
    Pgsluice proxy(postgres, spread_config(100, kPoolSize));
    BackendSampler servers(postgres, "usename = 'app'");

    // Each client runs transactions until told to stop, then checks that the table counted
    // every one of them.
    std::atomic<bool> stop{false};
    std::atomic<int> running{0}, failures{0}, transactions{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
        threads.emplace_back([&, c] {
            try {
                Connection client(proxy.conninfo());
                const auto me = std::to_string(c);
                client.exec("set application_name = 'mover-" + me + "'");
                client.exec("insert into moves values (" + me + ", 0)");
                ++running;
                int mine = 0;
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
                while (!stop && std::chrono::steady_clock::now() < deadline) {
                    client.exec("begin");
                    client.exec("update moves set n = n + 1 where client = " + me);
                    if (client.scalar("select current_setting('application_name')") != "mover-" + me) ++failures;
                    client.exec("commit");
                    ++mine;
                    ++transactions;
                }
                if (client.scalar("select n from moves where client = " + me) != std::to_string(mine)) ++failures;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "client %d: %s\n", c, e.what());  // Catch's INFO is not for threads
                ++failures;
            }
        });
    }
    // All of them busy on the first worker; then the second starts taking clients, and idle
    // ones move to it between their transactions.
    const bool all_running = wait_until([&] { return running == kClients; }, std::chrono::seconds(30));
    CHECK(clients_on(proxy, 1) == 0);
    switch_spread(proxy, 0, kPoolSize);
    const bool moved = wait_until([&] { return clients_on(proxy, 1) >= kClients / 2 - 1; }, std::chrono::seconds(30));
    // A while longer with sessions on both workers.
    const int so_far = transactions;
    wait_until([&] { return transactions >= so_far + 200; }, std::chrono::seconds(30));
    stop = true;
    for (auto& thread : threads) thread.join();
    CHECK(all_running);
    CHECK(moved);
    CHECK(failures == 0);
    CHECK(metric(proxy, "pgsluice_worker_moves_total") >= kClients / 2 - 1);
    CHECK(servers.stop() <= kPoolSize);
    CHECK(proxy.running());
}
