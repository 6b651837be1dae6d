// The periodic stats log line (stats_period), as PgBouncer's log_stats.
#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("every stats_period one stats line reports the transactions of the period", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2) + "stats_period: 1s\n");
    Connection client(proxy.conninfo());
    for (int i = 0; i < 50; ++i) CHECK(client.scalar("select 1") == "1");
    // A line with a non-zero rate: the queries above fell into some period.
    const std::regex busy(R"(stats: [1-9]\d* xacts/s, [1-9]\d* queries/s, in \d+ B/s, out \d+ B/s, xact \d+ us, )"
                          R"(query \d+ us, wait \d+ us; 1 clients \(0 waiting\), \d+ servers)");
    CHECK(wait_until([&] { return std::regex_search(proxy.log(), busy); }, std::chrono::seconds(10)));
    // And the periods go on with no traffic.
    CHECK(proxy.wait_for_log("stats: 0 xacts/s, 0 queries/s"));
}

namespace {
// One JSON object per line, {"time":..,"level":..,"msg":".."}, the message's quotes escaped.
bool is_json_log_line(const std::string& line) {
    const std::string msg_key = R"(","msg":")";
    if (line.rfind(R"({"time":")", 0) != 0 || line.size() < 2 || line.substr(line.size() - 2) != "\"}") return false;
    const auto msg = line.find(msg_key);
    if (msg == std::string::npos || line.find(R"(","level":")") == std::string::npos) return false;
    const auto begin = msg + msg_key.size();
    const auto end = line.size() - 2;
    for (auto i = begin; i < end; ++i) {
        if (line[i] == '\\') {
            ++i;  // whatever it escapes
        } else if (line[i] == '"' || static_cast<unsigned char>(line[i]) < 0x20) {
            return false;
        }
    }
    return true;
}
}  // namespace

TEST_CASE("with log_format json every line is one JSON object and quotes in messages are escaped", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2) + "log_format: json\n");
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");
    REQUIRE(proxy.wait_for_log(R"(login ok, user \"app\" database \"app\")"));
    std::istringstream lines(proxy.log());
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        INFO(line);
        CHECK(is_json_log_line(line));
        ++count;
    }
    CHECK(count >= 3);
}
