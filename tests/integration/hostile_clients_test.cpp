// Clients that behave badly on purpose: one that never reads a huge result, one that
// trickles its login a byte at a time, a burst of 10,000 connection attempts and a tight
// connect/disconnect loop. pgsluice's memory stays bounded and a well-behaved pgbench
// alongside keeps its latency. (Clients stuck mid-login by the thousand:
// login_timeout_test; malformed bytes: bad_input_test and hostile_input_test.)
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/process.hpp"
#include "harness/raw_socket.hpp"
#include "harness/wait.hpp"
#include "protocol/startup.hpp"

using namespace harness;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

std::size_t open_fds(pid_t pid) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
    return n;
}

void raise_fd_limit(rlim_t wanted) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = std::max(limit.rlim_cur, std::min(limit.rlim_max, wanted));
    ::setrlimit(RLIMIT_NOFILE, &limit);
}

// A connect to the loopback port that does not wait: the burst is about how fast attempts
// arrive, not about finishing each.
int start_connect(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return fd;
}

// pgbench through pgsluice for `seconds`, 4 clients running `select 1`, logging every
// transaction's latency; started in the background. Running once it printed its first
// progress line (its clients are connected by then).
std::unique_ptr<Process> start_pgbench(const Pgsluice& proxy, const TempDir& dir, const std::string& name, int seconds) {
    const std::string script = dir.path() + "/select1.sql";
    write_file(script, "select 1;\n");
    const std::string prefix = dir.path() + "/" + name;
    return std::make_unique<Process>(Process::Options{
        {"pgbench", "-n", "-h", "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "app", "-c", "4", "-j", "2", "-T",
         std::to_string(seconds), "-P", "1", "-f", script, "-l", "--log-prefix=" + prefix, "app"},
        prefix + ".out",
        "",
        {std::string("PGPASSWORD=") + PostgresServer::kAppPassword}});
}

// Waits for pgbench to end (bounded) and returns every transaction's latency in ms, sorted.
std::vector<double> pgbench_latencies(Process& pgbench, const TempDir& dir, const std::string& name) {
    const std::string prefix = dir.path() + "/" + name;
    const bool ended = wait_until([&] { return !pgbench.running(); }, 60s);
    INFO(read_file(prefix + ".out"));
    REQUIRE(ended);
    REQUIRE(pgbench.exit_code() == 0);
    std::vector<double> latencies;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        if (entry.path().filename().string().rfind(name + ".", 0) != 0 || entry.path().extension() == ".out") continue;
        std::ifstream log(entry.path());
        std::string line;
        while (std::getline(log, line)) {
            std::istringstream fields(line);
            long client = 0, transaction = 0, micros = 0;
            if (fields >> client >> transaction >> micros) latencies.push_back(micros / 1000.0);
        }
    }
    std::sort(latencies.begin(), latencies.end());
    return latencies;
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(sorted.size() * p / 100))];
}

}  // namespace

TEST_CASE("a client that never reads a huge result: back-pressure reaches PostgreSQL, pgsluice's memory stays bounded",
          "[integration][hostile][serial]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    const pid_t pid = proxy.process().pid();
    Connection monitor(postgres.superuser_conninfo());
    {
        Connection warm(proxy.conninfo());
        CHECK(warm.scalar("select 1") == "1");
    }
    const long rss_before = rss_kb(pid);

    Connection hog(proxy.conninfo());
    // About 1.6 GB of rows; the client never reads a byte of them.
    REQUIRE(PQsendQuery(hog.raw(), "select repeat('x', 8000) from generate_series(1, 200000)"));
    // PostgreSQL blocks writing to pgsluice: pgsluice stopped reading because the client's
    // socket is full, instead of buffering the result.
    REQUIRE(wait_until(
        [&] {
            return monitor.scalar("select count(*) from pg_stat_activity where usename = 'app' and "
                                  "wait_event = 'ClientWrite'") == "1";
        },
        20s));
    long peak = 0;
    const auto until = Clock::now() + 1s;  // a second of sampling while it stays blocked
    while (Clock::now() < until) {
        peak = std::max(peak, rss_kb(pid));
        std::this_thread::sleep_for(50ms);
    }
    INFO("RSS before " << rss_before << " kB, peak while the result is stuck " << peak << " kB");
    CHECK(peak - rss_before < 64 * 1024);
    // The other server still serves everyone else.
    Connection other(proxy.conninfo());
    CHECK(other.scalar("select 'not stuck'") == "not stuck");
}

namespace {
// Reads what arrives on `conn` (without parsing it) until the connection ends; false when
// it has not ended within `within`.
bool connection_ends(PGconn* conn, std::chrono::milliseconds within) {
    return wait_until(
        [&] {
            pollfd readable{PQsocket(conn), POLLIN, 0};
            ::poll(&readable, 1, 100);
            return PQconsumeInput(conn) == 0;
        },
        within);
}
}  // namespace

TEST_CASE("a client that stops reading is closed at client_write_timeout: its transaction rolls back, the pool serves on",
          "[integration][hostile]") {
    PostgresServer postgres;
    {
        Connection owner(postgres.superuser_conninfo("app"));
        owner.exec("create table write_timeout_ledger (id int); grant all on write_timeout_ledger to app");
    }
    Connection monitor(postgres.superuser_conninfo("app"));
    struct Case {
        const char* mode;
        bool reads_first;  // reads for 100 ms before it stops: the coroutine forwarder's write stalls
    };
    // Transaction mode, never reading: the quick path hands the full socket to
    // finish_pending_write. Reading first: the stall comes in the coroutine forwarder's pump.
    // Session mode: always the pump.
    for (const Case c : {Case{"transaction", false}, Case{"transaction", true}, Case{"session", false}}) {
        INFO("pool_mode " << c.mode << (c.reads_first ? ", reads for 100 ms first" : ", never reads"));
        std::string yaml = Pgsluice::basic_config(c.mode, 2, "  query_wait_timeout: 3s\n");
        yaml.replace(yaml.find("workers: 2\n"), 11, "workers: 2\nlimits: {client_write_timeout: 2s}\n");
        Pgsluice proxy(postgres, yaml);

        Connection hog(proxy.conninfo());
        hog.exec("begin");
        hog.exec("insert into write_timeout_ledger values (1)");
        REQUIRE(PQsendQuery(hog.raw(), "select repeat('x', 8000) from generate_series(1, 200000)"));
        if (c.reads_first) {
            const auto until = Clock::now() + 100ms;
            while (Clock::now() < until) {
                pollfd readable{PQsocket(hog.raw()), POLLIN, 0};
                ::poll(&readable, 1, 50);
                REQUIRE(PQconsumeInput(hog.raw()) == 1);
            }
        }
        const auto stopped_reading = Clock::now();
        {
            // Everyone else is served meanwhile (the hog holds one of the two servers).
            Connection other(proxy.conninfo());
            CHECK(other.scalar("select 'not stuck'") == "not stuck");
        }
        const std::string line = "client_write_timeout: the client read nothing for 2000 ms";
        REQUIRE(proxy.wait_for_log(line, 15s));
        const auto took = Clock::now() - stopped_reading;
        INFO("closed " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms after the client stopped reading");
        CHECK(took >= 1800ms);  // not before the limit (measured from the test's side)
        CHECK(took < 5s);       // 2 s, looked at every 100 ms, and the log polled
        CHECK(proxy.log_count(line) == 1);
        CHECK(connection_ends(hog.raw(), 10s));

        // Its server was closed, not given back mid-result: the backend is gone, and the
        // transaction with it.
        CHECK(wait_until(
            [&] {
                return monitor.scalar("select count(*) from pg_stat_activity where usename = 'app' and "
                                      "(wait_event = 'ClientWrite' or state like 'idle in transaction%')") == "0";
            },
            10s));
        CHECK(monitor.scalar("select count(*) from write_timeout_ledger") == "0");
        // Both servers serve again (a lost slot would make the second wait out query_wait_timeout).
        Connection a(proxy.conninfo());
        Connection b(proxy.conninfo());
        a.exec("begin");
        b.exec("begin");
        CHECK(a.scalar("insert into write_timeout_ledger values (2) returning id") == "2");
        CHECK(b.scalar("select count(*) from write_timeout_ledger") == "0");
        a.exec("rollback");
        b.exec("commit");
    }
}

TEST_CASE("a client trickling its login one byte a second is closed at client_login_timeout", "[integration][hostile]") {
    PostgresServer postgres;
    std::string yaml = Pgsluice::basic_config("transaction", 2);
    yaml.replace(yaml.find("workers: 2\n"), 11, "workers: 2\nlimits: {client_login_timeout: 2s}\n");
    Pgsluice proxy(postgres, yaml);
    const int fd = connect_loopback_or_fail(proxy.port());
    const auto started = Clock::now();
    const auto startup = pgsluice::protocol::encode_startup_message({{"user", "app"}, {"database", "app"}});
    bool closed = false;
    for (std::size_t i = 0; i < startup.size() && !closed; ++i) {
        ::send(fd, startup.data() + i, 1, MSG_NOSIGNAL);
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 1000) == 1) {  // one byte a second, unless pgsluice speaks
            char byte;
            closed = ::recv(fd, &byte, 1, 0) <= 0;
            while (!closed && ::recv(fd, &byte, 1, MSG_DONTWAIT) > 0) {}
        }
    }
    const auto took = Clock::now() - started;
    ::close(fd);
    CHECK(closed);
    CHECK(took < 4s);  // the 2 s timeout counts from the connect, not from the last byte
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 1") == "1");
}

// The attacker never holds more than about 1,000 connections at once, so no client may be
// refused at max_client_conn (5,000): before connections that close without a word were
// dropped at a peek, the flood's closed connections still held their places while the
// workers caught up, and a newcomer was refused with 53300.
TEST_CASE("10,000 connection attempts in a burst and a connect/disconnect loop: pgbench alongside keeps its p99",
          "[integration][hostile][serial]") {
    raise_fd_limit(8192);
    // Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before
    // it is reused: 20,000 connections' worth would look like growth. A small one for the
    // pgsluice this test starts (the variable is read by the child at its start).
    const std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
    ::setenv("ASAN_OPTIONS", (asan + (asan.empty() ? "" : ":") + "quarantine_size_mb=16").c_str(), 1);
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 4));
    ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
    const pid_t pid = proxy.process().pid();
    TempDir dir("pgsluice-hostile");
    {
        Connection warm(proxy.conninfo());
        CHECK(warm.scalar("select 1") == "1");
    }
    auto quiet_run = start_pgbench(proxy, dir, "quiet", 3);
    const auto quiet = pgbench_latencies(*quiet_run, dir, "quiet");
    const auto fds_before = open_fds(pid);
    const long rss_before = rss_kb(pid);

    // pgbench connects first: the attack is on the clients already in, and on a login
    // measured separately below.
    auto attacked_run = start_pgbench(proxy, dir, "attacked", 5);
    REQUIRE(wait_until([&] { return read_file(dir.path() + "/attacked.out").find("progress:") != std::string::npos; }, 20s));
    std::atomic<bool> hostile{true};
    std::atomic<long> burst_attempts{0}, loop_attempts{0};
    std::thread burst([&] {
        // 10 waves of 1,000 connects, each wave closed before the next.
        for (int wave = 0; wave < 10 && hostile; ++wave) {
            std::vector<int> fds;
            for (int i = 0; i < 1000; ++i)
                if (int fd = start_connect(proxy.port()); fd >= 0) fds.push_back(fd);
            burst_attempts += static_cast<long>(fds.size());
            std::this_thread::sleep_for(100ms);
            for (int fd : fds) ::close(fd);
        }
    });
    std::thread churn([&] {
        while (hostile) {
            const int fd = connect_loopback(proxy.port());
            if (fd >= 0) ::close(fd);
            ++loop_attempts;
        }
    });
    struct StopHostile {
        std::atomic<bool>& hostile;
        std::thread& burst;
        std::thread& churn;
        ~StopHostile() {
            hostile = false;
            burst.join();
            churn.join();
        }
    };
    std::vector<double> loaded;
    std::chrono::milliseconds login_took{0};
    {
        StopHostile stop{hostile, burst, churn};
        std::this_thread::sleep_for(500ms);  // into the attack
        const auto asked = Clock::now();
        Connection newcomer(proxy.conninfo());
        CHECK(newcomer.scalar("select 1") == "1");
        login_took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
        loaded = pgbench_latencies(*attacked_run, dir, "attacked");
    }
    const long rss_after = rss_kb(pid);

    const double quiet_p99 = percentile(quiet, 99), loaded_p99 = percentile(loaded, 99);
    INFO("pgbench p50/p99 quiet " << percentile(quiet, 50) << " / " << quiet_p99 << " ms over " << quiet.size()
                                  << " transactions; under attack " << percentile(loaded, 50) << " / " << loaded_p99
                                  << " ms over " << loaded.size() << "; " << burst_attempts << " burst and "
                                  << loop_attempts << " loop connects; RSS " << rss_before << " -> " << rss_after
                                  << " kB");
    WARN("pgbench p50/p99 quiet " << percentile(quiet, 50) << " / " << quiet_p99 << " ms, under attack "
                                  << percentile(loaded, 50) << " / " << loaded_p99 << " ms; a login under attack took "
                                  << login_took.count() << " ms; " << burst_attempts << " burst + " << loop_attempts
                                  << " loop connects; RSS " << rss_before << " -> " << rss_after << " kB");
    CHECK(burst_attempts >= 9000);
    CHECK(loaded.size() > 100);
    CHECK(loaded_p99 < std::max(10 * quiet_p99, 20.0));
    CHECK(loaded_p99 < 200.0);
    // A new login gets in: 0.2 to 1.2 s measured on two shared cores with ASan. Should the
    // flood overflow the listen queue, its SYN is dropped and retried after 1 s, 2 s, 4 s
    // (about 7 s before closed connections were dropped at a peek): hence the wide bound.
    CHECK(login_took < 20s);
    CHECK(proxy.running());
    CHECK(proxy.log().find("refused, max_client_conn") == std::string::npos);
    // Every attacker's descriptor is given back, and memory did not run away.
    CHECK(wait_until([&] { return open_fds(pid) <= fds_before + 2; }, 15s));
    CHECK(rss_after - rss_before < 64 * 1024);
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 'still serving'") == "still serving");
}
