// Named prepared statements through pgsluice (issue 16): pgbench -M prepared, libpq's
// PQprepare / PQexecPrepared, DEALLOCATE and DISCARD ALL, pipelines with an error, eviction
// at max_prepared_statements, and the real drivers of tests/drivers.
//
// Session mode needs no rewriting. Transaction mode (tag [prepared_tx]) goes through the
// forwarder's statement router (proxy/prepared/statement_router.hpp): without it these cases
// fail with 26000 (a statement prepared on another server) or 42P05 (two clients' names
// meeting on one server).
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/postgres_server.hpp"
#include "harness/pq.hpp"
#include "harness/process.hpp"

using namespace harness;

namespace {

const std::string kPgbench = "/usr/lib/postgresql/15/bin/pgbench";

// A pgsluice in `mode` with `pool_size` servers and generous waits (50 clients share 3).
std::string config(const std::string& mode, int pool_size, const std::string& extra = "") {
    return Pgsluice::basic_config(mode, pool_size, "  query_wait_timeout: 60s\n" + extra);
}

std::vector<std::string> client_env(const Pgsluice& proxy) {
    return {"PGHOST=127.0.0.1", "PGPORT=" + std::to_string(proxy.port()), "PGUSER=app",
            std::string("PGPASSWORD=") + PostgresServer::kAppPassword, "PGDATABASE=app", "PGSSLMODE=disable"};
}

// pgbench with `protocol` (-M): 50 clients x 20 transactions of a two-statement script.
void run_pgbench(const Pgsluice& proxy, const std::string& protocol) {
    TempDir dir("pgsluice-prepared-pgbench");
    write_file(dir.path() + "/script.sql",
               "\\set x random(1, 1000)\nselect :x::int * 2;\nselect :x::text || '-' || :client_id;\n");
    const std::string log = dir.path() + "/pgbench.log";
    const int rc = run_command({{kPgbench, "-n", "-M", protocol, "-c", "50", "-j", "2", "-t", "20", "-f",
                                 dir.path() + "/script.sql"},
                                log,
                                "",
                                client_env(proxy)},
                               90000);
    const auto output = read_file(log);
    INFO(output);
    CHECK(rc == 0);
    CHECK(output.find("number of transactions actually processed: 1000/1000") != std::string::npos);
    CHECK(output.find("number of failed transactions: 0 ") != std::string::npos);
}

// Runs one script of tests/drivers with the proxy in the libpq environment variables.
void run_driver(const Pgsluice& proxy, std::vector<std::string> argv) {
    TempDir dir("pgsluice-driver");
    const std::string log = dir.path() + "/driver.log";
    const int rc = run_command({std::move(argv), log, "", client_env(proxy)}, 150000);
    const auto output = read_file(log);
    INFO(output);
    CHECK(rc == 0);
    CHECK(output.find("ok: ") != std::string::npos);
}

std::string drivers(const std::string& file) { return std::string(PGSLUICE_SOURCE_DIR) + "/tests/drivers/" + file; }

// node-postgres comes from npm (tests/run.sh runs `npm ci`); without a registry to fetch it
// from, the case says so and is skipped rather than failed.
void run_node_driver(const Pgsluice& proxy) {
    if (!std::filesystem::exists(drivers("node_modules/pg/package.json"))) {
        WARN("skipped: node-postgres is not installed in tests/drivers (npm ci could not fetch it)");
        return;
    }
    run_driver(proxy, {"/usr/bin/node", drivers("node_prepared.js")});
}

// Each driver of tests/drivers, one Catch section apiece (so one failing names itself).
void run_every_driver(const Pgsluice& proxy) {
    SECTION("psycopg 3, prepare_threshold=0") { run_driver(proxy, {"/usr/bin/python3", drivers("psycopg3_prepared.py")}); }
    SECTION("asyncpg, default statement cache") { run_driver(proxy, {"/usr/bin/python3", drivers("asyncpg_prepared.py")}); }
    SECTION("pgjdbc, prepareThreshold=1") {
        run_driver(proxy, {"/usr/bin/java", "-cp", "/usr/share/java/postgresql.jar", drivers("PgjdbcPrepared.java")});
    }
    SECTION("node-postgres, named queries") { run_node_driver(proxy); }
}

// PQexecPrepared of one text parameter; the first column of the first row, or throws.
std::string exec_prepared(Connection& connection, const std::string& name, const std::string& value) {
    const char* params[] = {value.c_str()};
    PGresult* result = PQexecPrepared(connection.raw(), name.c_str(), 1, params, nullptr, nullptr, 0);
    const std::string state = PQresultErrorField(result, PG_DIAG_SQLSTATE) ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : "";
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        const std::string message = PQresultErrorMessage(result);
        PQclear(result);
        throw PgError(message, state);
    }
    std::string value_out = PQgetvalue(result, 0, 0);
    PQclear(result);
    return value_out;
}

// PQprepare, or throws PgError (no REQUIRE: it runs on the clients' threads too).
void prepare(Connection& connection, const std::string& name, const std::string& sql) {
    PGresult* result = PQprepare(connection.raw(), name.c_str(), sql.c_str(), 0, nullptr);
    const auto status = PQresultStatus(result);
    const std::string message = PQresultErrorMessage(result);
    const std::string state = PQresultErrorField(result, PG_DIAG_SQLSTATE) ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : "";
    PQclear(result);
    if (status != PGRES_COMMAND_OK) throw PgError("PQprepare " + name + ": " + message, state);
}

void two_clients_same_name(const std::string& mode) {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config(mode, mode == "session" ? 2 : 1));
    Connection a(proxy.conninfo());
    Connection b(proxy.conninfo());
    prepare(a, "s1", "select 'a:' || $1::text");
    prepare(b, "s1", "select 'b:' || $1::text");
    for (int i = 0; i < 200; ++i) {
        const auto value = std::to_string(i);
        CHECK(exec_prepared(a, "s1", value) == "a:" + value);
        CHECK(exec_prepared(b, "s1", value) == "b:" + value);
    }
}

void prepare_once_use_later(const std::string& mode) {
    PostgresServer postgres;
    const int clients = 20;
    Pgsluice proxy(postgres, config(mode, mode == "session" ? clients : 2));
    std::atomic<int> wrong{0};
    std::vector<std::string> errors(clients);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            try {
                Connection client(proxy.conninfo());
                const std::string tag = "c" + std::to_string(c);
                auto prepare_all = [&] {
                    prepare(client, "twice", "select ($1::int * 2)::text");
                    prepare(client, "tagged", "select $1::text || '-" + tag + "'");
                };
                auto use_all = [&](int rounds) {
                    for (int i = 0; i < rounds; ++i) {
                        if (exec_prepared(client, "twice", std::to_string(i)) != std::to_string(i * 2)) ++wrong;
                        if (exec_prepared(client, "tagged", std::to_string(i)) != std::to_string(i) + "-" + tag) ++wrong;
                    }
                };
                prepare_all();
                use_all(25);
                // DEALLOCATE one: it is gone (26000), the other still works; prepare it again.
                client.exec("DEALLOCATE twice");
                try {
                    exec_prepared(client, "twice", "1");
                    ++wrong;
                } catch (const PgError& error) {
                    if (error.sqlstate != "26000") ++wrong;
                }
                use_all(0);
                if (exec_prepared(client, "tagged", "x") != "x-" + tag) ++wrong;
                prepare(client, "twice", "select ($1::int * 2)::text");
                use_all(10);
                client.exec("DEALLOCATE ALL");
                try {
                    exec_prepared(client, "tagged", "1");
                    ++wrong;
                } catch (const PgError& error) {
                    if (error.sqlstate != "26000") ++wrong;
                }
                prepare_all();
                use_all(10);
                client.exec("DISCARD ALL");
                try {
                    exec_prepared(client, "twice", "1");
                    ++wrong;
                } catch (const PgError& error) {
                    if (error.sqlstate != "26000") ++wrong;
                }
                prepare_all();
                use_all(10);
            } catch (const std::exception& error) {
                errors[c] = error.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (int c = 0; c < clients; ++c) {
        INFO("client " << c << ": " << errors[c]);
        CHECK(errors[c].empty());
    }
    CHECK(wrong == 0);
}

// A pipeline: statement `before` prepared and used, then a segment whose query fails with
// `after_error` prepared behind the failure (skipped), then `after` prepared in the next
// segment. Then, on whichever server the client lands (a neighbour holds the other one in
// a transaction, and prepares `before` with a text of its own), `before` and `after` work
// and `after_error` does not exist.
void pipeline_with_error(const std::string& mode) {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config(mode, mode == "session" ? 3 : 2));
    Connection client(proxy.conninfo());
    Connection neighbour(proxy.conninfo());
    PGconn* conn = client.raw();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    const char* one[] = {"21"};
    REQUIRE(PQsendPrepare(conn, "before", "select $1::int * 2", 0, nullptr) == 1);
    REQUIRE(PQsendQueryPrepared(conn, "before", 1, one, nullptr, nullptr, 0) == 1);
    REQUIRE(PQpipelineSync(conn) == 1);
    const char* zero[] = {"0"};
    REQUIRE(PQsendQueryParams(conn, "select 1 / $1::int", 1, nullptr, zero, nullptr, nullptr, 0) == 1);
    REQUIRE(PQsendPrepare(conn, "after_error", "select 'skipped'", 0, nullptr) == 1);
    REQUIRE(PQpipelineSync(conn) == 1);
    REQUIRE(PQsendPrepare(conn, "after", "select $1::int + 1", 0, nullptr) == 1);
    REQUIRE(PQpipelineSync(conn) == 1);

    auto next = [&](ExecStatusType expected, const char* what) {
        PGresult* result = PQgetResult(conn);
        REQUIRE(result != nullptr);
        INFO(what << ": " << PQresultErrorMessage(result));
        CHECK(PQresultStatus(result) == expected);
        std::string value = PQresultStatus(result) == PGRES_TUPLES_OK ? PQgetvalue(result, 0, 0) : "";
        PQclear(result);
        if (expected != PGRES_PIPELINE_SYNC) CHECK(PQgetResult(conn) == nullptr);
        return value;
    };
    next(PGRES_COMMAND_OK, "prepare before");
    CHECK(next(PGRES_TUPLES_OK, "use before") == "42");
    next(PGRES_PIPELINE_SYNC, "sync 1");
    next(PGRES_FATAL_ERROR, "division by zero");
    next(PGRES_PIPELINE_ABORTED, "prepare after_error, skipped");
    next(PGRES_PIPELINE_SYNC, "sync 2");
    next(PGRES_COMMAND_OK, "prepare after");
    next(PGRES_PIPELINE_SYNC, "sync 3");
    REQUIRE(PQexitPipelineMode(conn) == 1);

    prepare(neighbour, "before", "select 'neighbour ' || $1::text");
    for (int round = 0; round < 6; ++round) {
        neighbour.exec("begin");
        neighbour.exec("select 1");  // holds a server: the client takes the other one
        CHECK(exec_prepared(client, "before", "5") == "10");
        CHECK(exec_prepared(client, "after", "5") == "6");
        try {
            exec_prepared(client, "after_error", "5");
            FAIL("after_error should not exist");
        } catch (const PgError& error) {
            CHECK(error.sqlstate == "26000");
        }
        neighbour.exec("commit");
        CHECK(exec_prepared(neighbour, "before", "x") == "neighbour x");
    }
}

void eviction_rotation(const std::string& mode) {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config(mode, 1, "  max_prepared_statements: 2\n"));
    Connection client(proxy.conninfo());
    for (int s = 0; s < 5; ++s) prepare(client, "s" + std::to_string(s), "select $1::int + " + std::to_string(s * 100));
    for (int round = 0; round < 10; ++round)
        for (int s = 0; s < 5; ++s)
            CHECK(exec_prepared(client, "s" + std::to_string(s), std::to_string(round)) ==
                  std::to_string(round + s * 100));
    if (mode == "transaction") {
        // What the server holds stays within the bound (pg_prepared_statements is per
        // session: ask through the proxy, on the one server of the pool).
        CHECK(std::stoi(client.scalar("select count(*) from pg_prepared_statements")) <= 2);
    }
}

}  // namespace

// pgbench connects every client before the first transaction: in session mode each needs a
// server of its own, so the session variants run with a pool of 50.
TEST_CASE("pgbench -M extended: 50 clients over a pool of 3, no failures", "[integration][prepared]") {
    PostgresServer postgres;
    const auto mode = GENERATE(as<std::string>{}, "session", "transaction");
    Pgsluice proxy(postgres, config(mode, mode == "session" ? 50 : 3));
    run_pgbench(proxy, "extended");
}

TEST_CASE("pgbench -M prepared in session mode: 50 clients", "[integration][prepared]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config("session", 50));
    run_pgbench(proxy, "prepared");
}

TEST_CASE("pgbench -M prepared in transaction mode: 50 clients over a pool of 3", "[integration][prepared_tx]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config("transaction", 3));
    run_pgbench(proxy, "prepared");
}

TEST_CASE("two clients, one statement name, different texts: each gets its own (session)", "[integration][prepared]") {
    two_clients_same_name("session");
}

TEST_CASE("two clients, one statement name, different texts, a pool of one: each gets its own", "[integration][prepared_tx]") {
    two_clients_same_name("transaction");
}

TEST_CASE("PQprepare once, PQexecPrepared later, DEALLOCATE / DEALLOCATE ALL / DISCARD ALL (session)", "[integration][prepared]") {
    prepare_once_use_later("session");
}

TEST_CASE("PQprepare once, PQexecPrepared later from 20 clients over a pool of 2, DEALLOCATE / DEALLOCATE ALL / DISCARD ALL", "[integration][prepared_tx]") {
    prepare_once_use_later("transaction");
}

TEST_CASE("a pipeline with an error: the statements before and after it work, the skipped one does not exist (session)", "[integration][prepared]") {
    pipeline_with_error("session");
}

TEST_CASE("a pipeline with an error: the statements before and after it work, the skipped one does not exist", "[integration][prepared_tx]") {
    pipeline_with_error("transaction");
}

TEST_CASE("five statements in rotation (session)", "[integration][prepared]") { eviction_rotation("session"); }

TEST_CASE("five statements in rotation with max_prepared_statements 2", "[integration][prepared_tx]") {
    eviction_rotation("transaction");
}

TEST_CASE("real drivers with named prepared statements (session)", "[integration][prepared][drivers]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config("session", 8));
    run_every_driver(proxy);
}

TEST_CASE("real drivers with named prepared statements, 8 workers over a pool of 2", "[integration][prepared_tx][drivers]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, config("transaction", 2));
    run_every_driver(proxy);
}

// What an operator sees: each server's and each client's count of named statements (SHOW
// SERVERS / SHOW CLIENTS, PgBouncer's prepared_statements column), and the Parses pgsluice
// sent, with the hits and misses of the servers' caches, in the metrics.
TEST_CASE("SHOW SERVERS, SHOW CLIENTS and the metrics count prepared statements", "[integration][prepared_tx][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics("admin: {users: [app]}\n" + config("transaction", 1)));
    Connection client(proxy.conninfo());
    for (const auto* name : {"s1", "s2"}) {
        PGresult* prepared = PQprepare(client.raw(), name, "select $1::int + 1", 0, nullptr);
        REQUIRE(PQresultStatus(prepared) == PGRES_COMMAND_OK);
        PQclear(prepared);
    }
    for (int i = 0; i < 5; ++i) {
        const std::string value = std::to_string(i);
        const char* values[] = {value.c_str()};
        PGresult* result = PQexecPrepared(client.raw(), i % 2 ? "s1" : "s2", 1, values, nullptr, nullptr, 0);
        REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
        CHECK(std::string(PQgetvalue(result, 0, 0)) == std::to_string(i + 1));
        PQclear(result);
    }
    Connection admin(proxy.conninfo("app", PostgresServer::kAppPassword, "pgbouncer"));
    // prepared_statements is the column before id, in both tables.
    auto count_of = [](const std::vector<std::string>& row) { return row[row.size() - 2]; };
    const auto servers = admin.query("SHOW SERVERS");
    REQUIRE(servers.size() == 1);
    CHECK(count_of(servers[0]) == "1");  // one text, two client names: one statement on the server
    bool client_seen = false;
    for (const auto& row : admin.query("SHOW CLIENTS"))
        if (row[2] == "app") {
            CHECK(count_of(row) == "2");
            client_seen = true;
        }
    CHECK(client_seen);
    const auto metrics = http_get(proxy.metrics_port(), "/metrics").body;
    INFO(metrics);
    auto sample = [&](const std::string& name) {
        const std::string key = name + "{database=\"app\",user=\"app\"} ";
        const auto at = metrics.find(key);
        return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + key.size()));
    };
    CHECK(sample("pgsluice_prepared_statement_parses_total") == 1);  // one text: prepared once
    CHECK(sample("pgsluice_prepared_statement_misses_total") >= 1);
    CHECK(sample("pgsluice_prepared_statement_hits_total") >= 5);   // the second Parse and every Bind
}
