// `pgsluice health`, what a container HEALTHCHECK and the load-test script run: exit 0 with
// the answer when the metrics listener says 200, exit 1 with the reason when nothing listens;
// --ready asks /ready; PGSLUICE_METRICS_PORT gives the port when --port is not.
#include <catch2/catch.hpp>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/process.hpp"
#include "harness/wait.hpp"

using namespace harness;

TEST_CASE("pgsluice health asks /healthz and /ready and fails clearly when nothing answers", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 2)));
    const auto port = std::to_string(proxy.metrics_port());
    REQUIRE(wait_until([&] { return http_get(proxy.metrics_port(), "/healthz").status == 200; }));

    std::string output;
    CHECK(run_pgsluice({"health", "--port", port}, output) == 0);
    CHECK(output == "http://127.0.0.1:" + port + "/healthz: 200 ok\n");
    CHECK(run_pgsluice({"health", "--port", port, "--ready"}, output) == 0);
    CHECK(output == "http://127.0.0.1:" + port + "/ready: 200 ready\n");
    // A listener on every address is asked on loopback.
    CHECK(run_pgsluice({"health", "--address", "0.0.0.0", "--port", port}, output) == 0);

    TempDir dir("pgsluice-health");
    const auto out = dir.path() + "/out.txt";
    CHECK(run_command({{PGSLUICE_BINARY, "health"}, out, "", {"PGSLUICE_METRICS_PORT=" + port}}, 30000) == 0);
    CHECK(read_file(out).find(":" + port + "/healthz: 200") != std::string::npos);

    const auto closed = std::to_string(free_port());
    CHECK(run_pgsluice({"health", "--port", closed}, output) == 1);
    CHECK(output.find("http://127.0.0.1:" + closed + "/healthz: ") == 0);
    CHECK(output.find("refused") != std::string::npos);
}
