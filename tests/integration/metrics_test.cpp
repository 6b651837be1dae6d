// The Prometheus endpoint, scraped over HTTP as Prometheus would: health and readiness,
// counters that move with real traffic, the saturation a waiting client causes, errors by
// kind, and no secret anywhere in the output.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

const std::vector<std::string> kAppPool = {"database=\"app\"", "user=\"app\""};

// The metrics listener starts just after the client listeners: wait for it.
std::string scrape(const Pgsluice& proxy) {
    HttpResponse response;
    wait_until([&] {
        response = http_get(proxy.metrics_port(), "/metrics");
        return response.status == 200;
    });
    REQUIRE(response.status == 200);
    return response.body;
}

double value(const std::string& exposition, const std::string& name, const std::vector<std::string>& labels = kAppPool) {
    return sample(exposition, name, labels).value_or(-1);
}

}  // namespace

TEST_CASE("the metrics listener answers healthz and ready, and a 404 elsewhere", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 2)));
    HttpResponse health;
    CHECK(wait_until([&] {
        health = http_get(proxy.metrics_port(), "/healthz");
        return health.status == 200;
    }));
    CHECK(health.body == "ok\n");
    // Alive comes before ready: /healthz answers as soon as the listener does, /ready once
    // the daemon has finished starting (a moment later, longer on a loaded machine).
    CHECK(wait_until([&] { return http_get(proxy.metrics_port(), "/ready").status == 200; }));
    CHECK(http_get(proxy.metrics_port(), "/nothing-here").status == 404);
    const auto text = scrape(proxy);
    CHECK(text.find("# TYPE pgsluice_transactions_total counter") != std::string::npos);
    CHECK(sample(text, "pgsluice_config_info").value_or(0) == 1);
    CHECK(sample(text, "pgsluice_max_client_connections").value_or(0) == 5000);
    CHECK(text.find("pgsluice_config_info{hash=\"") != std::string::npos);
    CHECK(value(text, "process_resident_memory_bytes", {}) > 0);
    CHECK(value(text, "process_open_fds", {}) > 0);
    CHECK(value(text, "process_max_fds", {}) > 0);
    CHECK(value(text, "process_start_time_seconds", {}) > 1.6e9);
    CHECK(value(text, "pgsluice_database_max_connections", {"database=\"app\""}) == 0);
    CHECK(value(text, "pgsluice_config_reloads_total", {"result=\"success\""}) == 0);
}

TEST_CASE("queries and transactions through pgsluice move their counters by exactly what was sent", "[integration]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config(mode, 2)));
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");
    const auto before = scrape(proxy);
    CHECK(value(before, "pgsluice_client_logins_total") == 1);
    CHECK(value(before, "pgsluice_server_connects_total") == 1);
    CHECK(value(before, "pgsluice_pool_clients_active") == 1);

    // 5 queries (one of them an extended-protocol batch ending in Sync), 3 transactions.
    client.exec("select 2");
    client.exec("begin");
    client.exec("select pg_sleep(0.05)");
    client.exec("commit");
    const char* params[] = {"7"};
    PGresult* result = PQexecParams(client.raw(), "select $1::int", 1, nullptr, params, nullptr, nullptr, 0);
    CHECK(PQresultStatus(result) == PGRES_TUPLES_OK);
    PQclear(result);

    const auto after = scrape(proxy);
    CHECK(value(after, "pgsluice_queries_total") - value(before, "pgsluice_queries_total") == 5);
    CHECK(value(after, "pgsluice_transactions_total") - value(before, "pgsluice_transactions_total") == 3);
    CHECK(value(after, "pgsluice_client_bytes_received_total") > value(before, "pgsluice_client_bytes_received_total"));
    CHECK(value(after, "pgsluice_client_bytes_sent_total") > value(before, "pgsluice_client_bytes_sent_total"));
    // The transaction slept 50 ms; its time and its query's time show it.
    CHECK(value(after, "pgsluice_transaction_seconds_total") - value(before, "pgsluice_transaction_seconds_total") >= 0.05);
    CHECK(value(after, "pgsluice_query_seconds_total") - value(before, "pgsluice_query_seconds_total") >= 0.05);
    CHECK(value(after, "pgsluice_pool_size") == 2);
    CHECK(value(after, "pgsluice_database_server_connections", {"database=\"app\""}) == 1);
}

TEST_CASE("a client waiting behind an open transaction shows as waiting, and the pool as saturated", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres,
                   Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 1, "  query_wait_timeout: 30s\n")));
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    holder.exec("select 1");

    std::atomic<bool> waiter_served{false};
    std::thread waiter([&] {
        try {
            Connection client(proxy.conninfo());
            waiter_served = client.scalar("select 'served'") == "served";
        } catch (const std::exception&) {
        }
    });
    std::string text;
    const bool saw_wait = wait_until([&] {
        text = scrape(proxy);
        return value(text, "pgsluice_pool_clients_waiting") == 1;
    });
    CHECK(saw_wait);
    CHECK(value(text, "pgsluice_pool_saturation") == 1);
    CHECK(value(text, "pgsluice_pool_servers_active") == 1);
    CHECK(value(text, "pgsluice_pool_servers_idle") == 0);
    CHECK(value(text, "pgsluice_pool_clients_active") == 1);
    CHECK(value(text, "pgsluice_pool_max_wait_seconds") > 0);

    holder.exec("commit");
    waiter.join();
    CHECK(waiter_served);
    CHECK(wait_until([&] {
        text = scrape(proxy);
        return value(text, "pgsluice_pool_clients_waiting") == 0 && value(text, "pgsluice_pool_saturation") == 0;
    }));
    CHECK(value(text, "pgsluice_pool_max_wait_seconds") == 0);
    CHECK(value(text, "pgsluice_wait_seconds_total") > 0);
}

TEST_CASE("a wrong password counts as login_failed and no password appears in the metrics", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 2)));
    const std::string wrong_password = "not-the-app-secret-xyzzy";
    // Before any pool exists the failure is counted without a pool; after, on the pool.
    CHECK(login_error_sqlstate(proxy.port(), "app", wrong_password, "app") == "28P01");
    auto text = scrape(proxy);
    CHECK(value(text, "pgsluice_errors_total", {"kind=\"login_failed\""}) == 1);
    {
        Connection client(proxy.conninfo());
        CHECK(client.scalar("select 1") == "1");
    }
    CHECK(login_error_sqlstate(proxy.port(), "app", wrong_password, "app") == "28P01");
    text = scrape(proxy);
    CHECK(value(text, "pgsluice_errors_total", {"kind=\"login_failed\""}) == 2);
    CHECK(value(text, "pgsluice_errors_total", {"database=\"app\"", "user=\"app\"", "kind=\"login_failed\""}) == 1);
    CHECK(value(text, "pgsluice_client_logins_total") == 1);
    CHECK(text.find(PostgresServer::kAppPassword) == std::string::npos);
    CHECK(text.find(wrong_password) == std::string::npos);
}

TEST_CASE("with metrics disabled nothing listens on the metrics port", "[integration]") {
    PostgresServer postgres;
    auto yaml = Pgsluice::basic_config("transaction", 2);
    const std::string off = "metrics: {enabled: false}\n";
    yaml.replace(yaml.find(off), off.size(), "metrics: {enabled: false, port: {METRICS_PORT}}\n");
    Pgsluice proxy(postgres, yaml);
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select 1") == "1");  // running and serving
    CHECK(http_get(proxy.metrics_port(), "/healthz").status == 0);
}

TEST_CASE("a metrics port already in use stops startup with a clear error and exit code 1", "[integration]") {
    // Holds the port; pgsluice needs no PostgreSQL to get this far.
    const int busy = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(busy, 1) == 0);
    socklen_t length = sizeof addr;
    ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &length);
    const int busy_port = ntohs(addr.sin_port);

    TempDir dir("pgsluice-metrics-busy");
    const std::string config = dir.path() + "/pgsluice.yaml";
    write_file(config, "listen: {address: 127.0.0.1, port: " + std::to_string(free_port()) +
                           "}\n"
                           "metrics: {enabled: true, address: 127.0.0.1, port: " + std::to_string(busy_port) +
                           "}\n"
                           "databases:\n  app: {host: 127.0.0.1, port: 1}\n"
                           "users:\n  app: {password: {env: APP_PASSWORD}}\n");
    const std::string log = dir.path() + "/out.txt";
    const int rc = run_command({{PGSLUICE_BINARY, "run", "-c", config}, log, "", {"APP_PASSWORD=x"}}, 30000);
    ::close(busy);
    CHECK(rc == 1);
    const auto output = read_file(log);
    INFO(output);
    CHECK(output.find("metrics: cannot listen on 127.0.0.1:" + std::to_string(busy_port)) != std::string::npos);
}

TEST_CASE("a wait timeout, a lost server and an idle transaction each count under their kind of error", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config(
                                 "session", 1, "  query_wait_timeout: 1s\n  idle_transaction_timeout: 500ms\n")));
    auto errors = [&](const char* kind) {
        return value(scrape(proxy), "pgsluice_errors_total",
                     {"database=\"app\"", "user=\"app\"", std::string("kind=\"") + kind + "\""});
    };
    Connection holder(proxy.conninfo());
    const auto backend = holder.scalar("select pg_backend_pid()");
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app") == "53300");
    CHECK(errors("wait_timeout") == 1);

    Connection monitor(postgres.superuser_conninfo());
    monitor.exec("select pg_terminate_backend(" + backend + ")");
    CHECK(wait_until([&] { return errors("server_lost") == 1; }));

    Connection idler(proxy.conninfo());
    idler.exec("begin");
    CHECK(wait_until([&] { return errors("client_timeout") == 1; }));
    CHECK(errors("login_failed") == 0);
    CHECK(errors("server_connect_failed") == 0);
}
