// A server's SCRAM challenge asks for as many PBKDF2 rounds as its verifier was made with.
// Deriving the key is pgsluice's slowest computation: it runs on a thread of its own, never
// on the worker threads that serve clients.
#include <time.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"
#include "protocol/auth/scram.hpp"

using namespace harness;

namespace {

constexpr int kRounds = 100'000;  // the most pgsluice derives for a server

double thread_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) + double(now.tv_nsec) / 1e9;
}

// The CPU time (user + system) of the process's thread named `name`; -1 when none is.
double named_thread_cpu_seconds(pid_t pid, const std::string& name) {
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
        std::ifstream comm(task.path() / "comm");
        std::string thread_name;
        std::getline(comm, thread_name);
        if (thread_name != name) continue;
        std::ifstream stat(task.path() / "stat");
        std::string line;
        std::getline(stat, line);
        std::istringstream fields(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
        std::string field;
        long utime = 0, stime = 0;
        for (int i = 3; fields >> field; ++i) {
            if (i == 14) utime = std::stol(field);
            if (i == 15) {
                stime = std::stol(field);
                break;
            }
        }
        return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
    }
    return -1;
}

}  // namespace

TEST_CASE("the PBKDF2 of server logins runs on a thread of its own, not on a worker", "[integration]") {
    PostgresServer postgres;
    // PostgreSQL keeps whatever verifier it is given: one with many rounds.
    const auto calibration_start = thread_cpu_seconds();
    const auto verifier =
        pgsluice::protocol::scram::Verifier::from_password(PostgresServer::kAppPassword, "pgsluice-slow-salt", kRounds);
    const double one_derivation = thread_cpu_seconds() - calibration_start;
    {
        Connection admin(postgres.superuser_conninfo());
        admin.exec("alter role app password '" + verifier.to_string() + "'");
    }
    constexpr int kServers = 12;
    Pgsluice proxy(postgres, "listen: {address: 127.0.0.1, port: {PORT}}\n"
                             "workers: 1\n"
                             "metrics: {enabled: false}\n"
                             "defaults: {pool_mode: transaction, pool_size: 12, min_pool_size: 12,"
                             " server_connect_timeout: 60s}\n"
                             "databases:\n"
                             "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
                             "users:\n"
                             "  app: {password: {env: APP_PASSWORD}}\n");
    Connection client(proxy.conninfo() + " connect_timeout=60");
    CHECK(client.scalar("select 1") == "1");
    // min_pool_size opens the rest in the background.
    Connection monitor(postgres.superuser_conninfo());
    CHECK(wait_until(
        [&] { return std::stoi(monitor.scalar("select count(*) from pg_stat_activity where usename = 'app'")) >= kServers; },
        std::chrono::seconds(60)));
    const double crypto = named_thread_cpu_seconds(proxy.process().pid(), "pgsluice-crypto");
    INFO("one derivation of " << kRounds << " rounds: " << one_derivation << " s; pgsluice-crypto's CPU time: " << crypto
                              << " s for " << kServers << " server logins");
    // The server logins derived their keys there (a quarter of the calibrated cost each: the
    // test's own derivation ran on a busier core, and a first call pays for OpenSSL's setup).
    CHECK(crypto >= 0.25 * kServers * one_derivation);
    CHECK(client.scalar("select 'served'") == "served");
}
