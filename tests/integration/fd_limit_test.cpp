// The open file limit: pgsluice raises its soft limit to the hard one, warns (and `check`
// warns) when max_client_conn and the pools cannot fit under it, and when it runs out of
// descriptors (EMFILE) it backs off instead of spinning, then serves again once clients leave.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/raw_socket.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

// "Max open files" soft and hard of a process, from /proc/PID/limits.
std::pair<long, long> open_file_limits(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) != 0) continue;
        std::istringstream fields(line.substr(14));
        long soft = -1, hard = -1;
        fields >> soft >> hard;
        return {soft, hard};
    }
    return {-1, -1};
}

// User plus system CPU time of a process, in seconds.
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15; ++i) {
        fields >> field;
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

int open_fds(pid_t pid) {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("pgsluice raises its soft open file limit to the hard one", "[integration][fd_limit]") {
    rlimit mine{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &mine) == 0);
    if (mine.rlim_max == RLIM_INFINITY || mine.rlim_max <= 1024) {
        SUCCEED("no finite hard limit above 1024 to raise to");
        return;
    }
    // pgsluice inherits this test's limits: start it with a low soft limit.
    rlimit low = mine;
    low.rlim_cur = 1024;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    REQUIRE(setrlimit(RLIMIT_NOFILE, &mine) == 0);
    const auto [soft, hard] = open_file_limits(proxy.process().pid());
    CHECK(soft == hard);
    CHECK(soft > 1024);
    CHECK(proxy.wait_for_log("open file limit raised from 1024 to " + std::to_string(hard)));
}

TEST_CASE("pgsluice check warns when max_client_conn and the pools do not fit the open file limit", "[integration][fd_limit]") {
    TempDir dir("pgsluice-fd-check");
    const std::string config = dir.path() + "/pgsluice.yaml";
    write_file(config,
               "limits: {max_client_conn: 2000}\n"
               "defaults: {pool_size: 50}\n"
               "databases: {app: {}, reports: {}}\n"
               "users: {app: {password: 'SCRAM-SHA-256$4096:c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='}}\n");
    const std::string out = dir.path() + "/out.txt";
    const int rc = run_command({{"prlimit", "--nofile=1024:1024", PGSLUICE_BINARY, "check", "-c", config}, out, "", {}});
    const auto output = read_file(out);
    INFO(output);
    CHECK(rc == 0);
    CHECK(output.find("warning: the open file limit (RLIMIT_NOFILE) is 1024 but this config may need 2164 file "
                      "descriptors (limits.max_client_conn 2000 + 100 server connections + 64") != std::string::npos);
    CHECK(output.find(": OK") != std::string::npos);
    const std::string out_fits = dir.path() + "/out-fits.txt";
    const int fits =
        run_command({{"prlimit", "--nofile=4096:4096", PGSLUICE_BINARY, "check", "-c", config}, out_fits, "", {}});
    CHECK(fits == 0);
    CHECK(read_file(out_fits).find("warning: the open file limit") == std::string::npos);
    CHECK(read_file(out_fits).find(": OK") != std::string::npos);
}

TEST_CASE("out of file descriptors, pgsluice backs off without spinning and serves again when clients leave",
          "[integration][fd_limit]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    const pid_t pid = proxy.process().pid();
    {
        Connection warm(proxy.conninfo());  // a server connection exists before the squeeze
        CHECK(warm.scalar("select 1") == "1");
    }
    // Room for about 40 more descriptors than it has now.
    // Counted once: two counts may differ (a descriptor opening meanwhile), and a soft limit
    // above the hard one makes prlimit fail with EINVAL.
    const auto room = rlim_t(open_fds(pid) + 40);
    const rlimit tight{room, room};
    REQUIRE(prlimit(pid, RLIMIT_NOFILE, &tight, nullptr) == 0);
    std::vector<int> clients;
    for (int i = 0; i < 120; ++i)
        if (int fd = connect_loopback(proxy.port()); fd >= 0) clients.push_back(fd);
    REQUIRE(proxy.wait_for_log("Too many open files"));
    // Every accepted client holds a descriptor and the rest wait in the listen queue: over
    // two seconds pgsluice does almost nothing (a spinning accept loop would take a core).
    const double cpu_before = cpu_seconds(pid);
    const auto log_lines_before = proxy.log_count("\n");
    const auto accept_lines_before = proxy.log_count("accept on tcp failed");
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the measured interval itself
    const double cpu_used = cpu_seconds(pid) - cpu_before;
    const auto log_lines = proxy.log_count("\n") - log_lines_before;
    const auto accept_lines = proxy.log_count("accept on tcp failed") - accept_lines_before;
    INFO("cpu " << cpu_used << " s, log lines " << log_lines << ", accept error lines " << accept_lines);
    CHECK(cpu_used < 0.5);
    CHECK(log_lines < 100);
    // Rate-limited: one line a second (the retries every 100 ms are counted, not logged).
    CHECK(accept_lines <= 3);
    CHECK(proxy.log().find("more failures since the last line") != std::string::npos);
    CHECK(proxy.running());
    for (int fd : clients) close(fd);
    // Once they are gone it accepts and serves again.
    CHECK(wait_until([&] { return Connection::try_connect(proxy.conninfo()); }, std::chrono::seconds(30)));
    INFO(proxy.log());
    CHECK(proxy.running());
    Connection after(proxy.conninfo());
    CHECK(after.scalar("select 2") == "2");
}
