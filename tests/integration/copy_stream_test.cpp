// A large COPY streams through pgsluice: what goes in comes back byte for byte, and the
// proxy's memory does not grow with the size of the data.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <fstream>
#include <sstream>
#include <string_view>

#include "harness/copy.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

namespace {

// A field of /proc/<pid>/status in kB (VmRSS, VmHWM).
long status_kb(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

struct Fnv1a {
    std::uint64_t hash = 1469598103934665603ull;
    std::uint64_t bytes = 0;
    void add(const char* data, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) hash = (hash ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
        bytes += n;
    }
};

// Sends `rows` rows of COPY text in chunks of about 64 kB; returns the hash of what it sent.
Fnv1a copy_in(PGconn* conn, int rows) {
    Fnv1a sent;
    std::string chunk;
    const std::string payload(200, 'x');
    int next_row = 0;
    harness::copy_in(conn, "copy blob from stdin", [&]() -> std::string_view {
        chunk.clear();
        while (next_row < rows && chunk.size() < 64 * 1024) {
            chunk += std::to_string(next_row) + "\t" + payload + std::to_string(next_row % 97) + "\n";
            ++next_row;
        }
        sent.add(chunk.data(), chunk.size());
        return chunk;
    });
    return sent;
}

Fnv1a copy_out(PGconn* conn) {
    Fnv1a received;
    harness::copy_out(conn, "copy blob to stdout", [&](const char* data, std::size_t n) { received.add(data, n); });
    return received;
}

}  // namespace

TEST_CASE("a 50 MB COPY round trip is byte-identical and pgsluice's memory stays flat", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection client(proxy.conninfo());
    client.exec("create table blob(id int, line text)");
    PGconn* conn = client.raw();

    // Warm up: the buffers a COPY needs exist before the measurement starts.
    copy_in(conn, 1000);
    copy_out(conn);
    client.exec("truncate blob");
    const pid_t pid = proxy.process().pid();
    const long peak_before = status_kb(pid, "VmHWM");
    REQUIRE(peak_before > 0);

    const auto sent = copy_in(conn, 240'000);  // about 50 MB
    CHECK(sent.bytes > 50'000'000);
    const auto received = copy_out(conn);
    CHECK(received.bytes == sent.bytes);
    CHECK(received.hash == sent.hash);
    CHECK(client.scalar("select count(*) from blob") == "240000");

    const long peak_after = status_kb(pid, "VmHWM");
    INFO("pgsluice peak RSS " << peak_before << " kB -> " << peak_after << " kB");
    CHECK(peak_after - peak_before < 30 * 1024);  // streamed, not buffered (ASan adds its own overhead)
}
