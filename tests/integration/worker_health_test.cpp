// /healthz answers for the workers, not for the metrics thread that serves it: a worker
// that stops running its handlers turns it to 503 within seconds, and back once it runs.
#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>

#include <chrono>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("a wedged worker turns /healthz unhealthy within seconds, and healthy again after", "[integration][serial]") {
    // The test-only hook (proxy/runtime/test_hooks.hpp): SIGUSR2 blocks worker 1 for 4 s. The child
    // inherits the environment; this process runs this one test case.
    ::setenv("PGSLUICE_TEST_HOOKS", "1", 1);
    ::setenv("PGSLUICE_TEST_WEDGE_WORKER", "1", 1);
    ::setenv("PGSLUICE_TEST_WEDGE_MS", "4000", 1);
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 2)));
    ::unsetenv("PGSLUICE_TEST_HOOKS");
    REQUIRE(wait_until([&] { return http_get(proxy.metrics_port(), "/healthz").status == 200; }));
    REQUIRE(proxy.wait_for_log("SIGUSR2 wedges worker 1"));

    proxy.process().signal(SIGUSR2);
    const auto wedged_at = Clock::now();
    HttpResponse health;
    CHECK(wait_until(
        [&] {
            health = http_get(proxy.metrics_port(), "/healthz", 1s);
            return health.status == 503;
        },
        4s));
    const auto noticed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - wedged_at);
    INFO("503 after " << noticed.count() << " ms: " << health.body);
    CHECK(noticed < 3500ms);  // WorkerHeartbeats::kStaleAfter (2 s) and one probe
    CHECK(health.body.find("worker 1: no heartbeat") != std::string::npos);
    CHECK(http_get(proxy.metrics_port(), "/ready").status == 200);  // readiness is another question

    CHECK(wait_until([&] { return http_get(proxy.metrics_port(), "/healthz", 1s).status == 200; }, 10s));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 'served after the wedge'") == "served after the wedge");
}
