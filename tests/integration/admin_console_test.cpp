// The admin console through psql and libpq, as runbooks and pgbouncer_exporter use it: SHOW
// tables in PgBouncer's shape, PAUSE/RESUME, KILL, RECONNECT, RELOAD, SHUTDOWN, and who may
// get in at all.
#include <catch2/catch.hpp>

#include <atomic>
#include <sstream>
#include <thread>
#include <vector>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

constexpr const char* kAdminPassword = "admin-console-pw";

std::string admin_config(const std::string& pool_mode = "transaction") {
    return "listen: {address: 127.0.0.1, port: {PORT}, unix_socket_dir: {SOCKET_DIR}}\n"
           "workers: 2\n"
           "metrics: {enabled: false}\n"
           "log_level: debug\n"
           "admin: {users: [admin]}\n"
           "defaults:\n"
           "  pool_mode: " + pool_mode + "\n"
           "  pool_size: 2\n"
           "  query_wait_timeout: 20s\n"
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n"
           "  admin: {password: " + std::string(kAdminPassword) + "}\n";
}

struct Psql {
    int rc = 0;
    std::string out;
    std::vector<std::vector<std::string>> lines;  // the header, then the rows, split at '|'
};

// `psql -p PORT pgbouncer -c COMMAND`, unaligned, with the header and without the footer.
Psql psql_admin(const Pgsluice& proxy, const std::string& command, const std::string& database = "pgbouncer") {
    TempDir dir("pgsluice-admin-psql");
    Psql result;
    result.rc = run_command({{"/usr/bin/psql", "-X", "-A", "-P", "footer=off", "-v", "ON_ERROR_STOP=1", "-h",
                              "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "admin", database, "-c", command},
                             dir.path() + "/out",
                             "",
                             {std::string("PGPASSWORD=") + kAdminPassword, "PGCONNECT_TIMEOUT=10"}},
                            30000);
    result.out = read_file(dir.path() + "/out");
    std::istringstream stream(result.out);
    for (std::string line; std::getline(stream, line);) {
        std::vector<std::string> fields;
        std::size_t start = 0;
        for (std::size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1)
            fields.push_back(line.substr(start, bar - start));
        fields.push_back(line.substr(start));
        result.lines.push_back(std::move(fields));
    }
    return result;
}

// The value in `column` of the first row whose first columns match `key`.
std::string cell(const Psql& table, const std::vector<std::string>& key, const std::string& column) {
    REQUIRE(!table.lines.empty());
    const auto& header = table.lines[0];
    const auto at = std::find(header.begin(), header.end(), column);
    REQUIRE(at != header.end());
    for (std::size_t r = 1; r < table.lines.size(); ++r) {
        const auto& row = table.lines[r];
        if (row.size() == header.size() && std::equal(key.begin(), key.end(), row.begin()))
            return row[static_cast<std::size_t>(at - header.begin())];
    }
    FAIL("no row starting with " + key[0] + " in:\n" + table.out);
    return {};
}

Connection admin_connection(const Pgsluice& proxy) { return Connection(proxy.conninfo("admin", kAdminPassword, "pgbouncer")); }

}  // namespace

TEST_CASE("SHOW POOLS via psql lists the app pool with PgBouncer's columns", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection app(proxy.conninfo());
    CHECK(app.scalar("select 1") == "1");

    auto pools = psql_admin(proxy, "SHOW POOLS");
    REQUIRE(pools.rc == 0);
    REQUIRE(!pools.lines.empty());
    CHECK(pools.lines[0] == std::vector<std::string>{"database", "user", "cl_active", "cl_waiting", "sv_active",
                                                     "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait",
                                                     "maxwait_us", "pool_mode"});
    CHECK(cell(pools, {"app", "app"}, "cl_active") == "1");
    CHECK(cell(pools, {"app", "app"}, "cl_waiting") == "0");
    CHECK(cell(pools, {"app", "app"}, "sv_active") == "0");
    CHECK(cell(pools, {"app", "app"}, "sv_idle") == "1");
    CHECK(cell(pools, {"app", "app"}, "pool_mode") == "transaction");
    // Lower case and a trailing semicolon, through the other admin database name.
    auto again = psql_admin(proxy, "show pools;", "pgsluice");
    CHECK(again.rc == 0);
    CHECK(cell(again, {"app", "app"}, "cl_active") == "1");
}

TEST_CASE("every SHOW command answers in PgBouncer's shape and SHOW CONFIG hides passwords", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection app(proxy.conninfo());
    CHECK(app.scalar("select 2") == "2");
    const auto backend_pid = app.scalar("select pg_backend_pid()");

    auto stats = psql_admin(proxy, "SHOW STATS");
    REQUIRE(stats.rc == 0);
    CHECK(stats.lines[0][0] == "database");
    CHECK(stats.lines[0][1] == "total_xact_count");
    CHECK(std::find(stats.lines[0].begin(), stats.lines[0].end(), "avg_wait_time") != stats.lines[0].end());
    CHECK(!cell(stats, {"app"}, "total_query_count").empty());

    auto totals = psql_admin(proxy, "SHOW STATS_TOTALS");
    CHECK(totals.rc == 0);
    CHECK(totals.lines[0][1] == "xact_count");

    auto clients = psql_admin(proxy, "SHOW CLIENTS");
    REQUIRE(clients.rc == 0);
    CHECK(clients.lines[0][0] == "type");
    CHECK(cell(clients, {"C", "app", "app"}, "state") == "idle");
    CHECK(cell(clients, {"C", "app", "app"}, "addr") == "127.0.0.1");
    CHECK(cell(clients, {"C", "admin", "pgbouncer"}, "state") == "active");

    auto servers = psql_admin(proxy, "SHOW SERVERS");
    REQUIRE(servers.rc == 0);
    CHECK(servers.lines[0][0] == "type");
    CHECK(cell(servers, {"S", "app", "app"}, "state") == "idle");
    CHECK(cell(servers, {"S", "app", "app"}, "port") == std::to_string(postgres.port()));
    CHECK(cell(servers, {"S", "app", "app"}, "remote_pid") == backend_pid);

    auto databases = psql_admin(proxy, "SHOW DATABASES");
    REQUIRE(databases.rc == 0);
    CHECK(databases.lines[0][0] == "name");
    CHECK(cell(databases, {"app"}, "pool_size") == "2");
    CHECK(cell(databases, {"app"}, "current_connections") == "1");
    CHECK(cell(databases, {"app"}, "paused") == "0");

    auto users = psql_admin(proxy, "SHOW USERS");
    REQUIRE(users.rc == 0);
    CHECK(cell(users, {"app"}, "current_client_connections") == "1");

    auto lists = psql_admin(proxy, "SHOW LISTS");
    REQUIRE(lists.rc == 0);
    CHECK(lists.lines[0] == std::vector<std::string>{"list", "items"});
    CHECK(cell(lists, {"pools"}, "items") == "1");
    CHECK(cell(lists, {"databases"}, "items") == "1");

    auto version = psql_admin(proxy, "SHOW VERSION");
    REQUIRE(version.rc == 0);
    CHECK(version.out.find("pgsluice ") != std::string::npos);

    auto config = psql_admin(proxy, "SHOW CONFIG");
    REQUIRE(config.rc == 0);
    CHECK(config.lines[0] == std::vector<std::string>{"key", "value", "default", "changeable"});
    CHECK(cell(config, {"max_client_conn"}, "value") == "5000");
    CHECK(cell(config, {"pool_size"}, "value") == "2");
    CHECK(cell(config, {"watch_config"}, "value") == "false");
    CHECK(config.out.find(kAdminPassword) == std::string::npos);
    CHECK(config.out.find(PostgresServer::kAppPassword) == std::string::npos);

    auto help = psql_admin(proxy, "SHOW HELP");
    CHECK(help.rc == 0);
    CHECK(help.out.find("PAUSE") != std::string::npos);
    // The secrets never reached the log either.
    CHECK(proxy.log().find(kAdminPassword) == std::string::npos);
}

TEST_CASE("an unknown admin command gets 42601 with a hint and the console session goes on", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    auto admin = admin_connection(proxy);
    try {
        admin.query("SELECT 1");
        FAIL("SELECT 1 on the admin console should fail");
    } catch (const PgError& e) {
        CHECK(e.sqlstate == "42601");
        CHECK(std::string(e.what()).find("SHOW") != std::string::npos);
    }
    CHECK(admin.query("SHOW VERSION").size() == 1);
    // The extended protocol is refused with 0A000, and the session still goes on.
    PGresult* result = PQexecParams(admin.raw(), "SHOW POOLS", 0, nullptr, nullptr, nullptr, nullptr, 0);
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    CHECK(std::string(state ? state : "") == "0A000");
    PQclear(result);
    CHECK(admin.query("SHOW LISTS").size() >= 3);
    // psql shows the error and exits non-zero.
    auto bad = psql_admin(proxy, "SHOW NOTHING");
    CHECK(bad.rc != 0);
}

TEST_CASE("only admin.users get the console: others are refused with 28000", "[integration][admin]") {
    PostgresServer postgres;
    SECTION("a user not in admin.users") {
        Pgsluice proxy(postgres, admin_config());
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "pgbouncer") == "28000");
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "pgsluice") == "28000");
        CHECK(login_error_sqlstate(proxy.port(), "admin", "wrong password", "pgbouncer") == "28P01");
        CHECK(login_error_sqlstate(proxy.port(), "admin", kAdminPassword, "pgbouncer") == std::nullopt);
        CHECK(proxy.wait_for_log("not in admin.users"));
    }
    SECTION("nobody when admin.users is empty") {
        Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
        CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "pgbouncer") == "28000");
        // The pools still work.
        Connection app(proxy.conninfo());
        CHECK(app.scalar("select 3") == "3");
    }
}

TEST_CASE("PAUSE makes a new query wait and RESUME lets it finish", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection app(proxy.conninfo());
    CHECK(app.scalar("select 1") == "1");
    auto admin = admin_connection(proxy);
    admin.exec("PAUSE app");
    CHECK(admin.query("SHOW DATABASES")[0][12] == "1");  // paused

    std::atomic<bool> finished{false};
    std::string answer;
    std::thread client([&] {
        answer = app.scalar("select 42");
        finished = true;
    });
    // The query waits: SHOW POOLS counts the client as waiting.
    const bool waiting = wait_until([&] {
        auto pools = admin.query("SHOW POOLS");
        return !pools.empty() && pools[0][3] == "1";
    });
    CHECK(waiting);
    CHECK(!finished);
    admin.exec("RESUME app");
    client.join();
    CHECK(finished);
    CHECK(answer == "42");
}

TEST_CASE("PAUSE returns only once the server in use is released, and closes the servers", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    CHECK(holder.scalar("select 1") == "1");
    auto watcher = admin_connection(proxy);
    std::atomic<bool> paused{false};
    std::thread pause([&] {
        auto admin = admin_connection(proxy);
        admin.exec("PAUSE");
        paused = true;
    });
    // PAUSE has taken effect but waits for the open transaction.
    CHECK(wait_until([&] { return watcher.query("SHOW DATABASES")[0][12] == "1"; }));
    CHECK(!paused);
    holder.exec("commit");
    pause.join();
    CHECK(paused);
    CHECK(watcher.query("SHOW SERVERS").empty());
    watcher.exec("RESUME");
    CHECK(holder.scalar("select 2") == "2");
}

TEST_CASE("KILL drops a connected client and its servers", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection victim(proxy.conninfo());
    CHECK(victim.scalar("select 1") == "1");
    auto admin = admin_connection(proxy);
    admin.exec("KILL app");
    CHECK_THROWS_AS(victim.scalar("select 2"), PgError);
    // Gone from the registry and from the pool; a new client still gets in.
    CHECK(wait_until([&] {
        for (const auto& row : admin.query("SHOW CLIENTS"))
            if (row[2] == "app") return false;
        return true;
    }));
    CHECK(admin.query("SHOW SERVERS").empty());
    Connection next(proxy.conninfo());
    CHECK(next.scalar("select 3") == "3");
    // KILL needs a database the config knows.
    CHECK_THROWS_AS(admin.exec("KILL nosuchdb"), PgError);
}

TEST_CASE("RECONNECT gives the next transaction a new backend and WAIT_CLOSE waits for the old one", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection app(proxy.conninfo());
    const auto first = app.scalar("select pg_backend_pid()");
    CHECK(app.scalar("select pg_backend_pid()") == first);  // transaction pooling reuses it
    auto admin = admin_connection(proxy);
    admin.exec("RECONNECT app");
    const auto second = app.scalar("select pg_backend_pid()");
    CHECK(second != first);

    // A server in use is closed when released; WAIT_CLOSE returns once it is.
    Connection holder(proxy.conninfo());
    holder.exec("begin");
    const auto held = holder.scalar("select pg_backend_pid()");
    admin.exec("RECONNECT");
    CHECK(wait_until([&] {
        for (const auto& row : admin.query("SHOW SERVERS"))
            if (row[15] == held) return row[13] == "1";  // close_needed
        return false;
    }));
    std::thread release([&] { holder.exec("commit"); });
    admin.exec("WAIT_CLOSE app");
    release.join();
    CHECK(holder.scalar("select pg_backend_pid()") != held);
}

TEST_CASE("RELOAD answers and SHUTDOWN stops the process with exit 0", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    {
        auto admin = admin_connection(proxy);
        try {
            admin.exec("RELOAD");  // succeeds once reload exists
        } catch (const PgError& e) {
            CHECK(std::string(e.what()).find("reload is not available") != std::string::npos);
        }
        CHECK(admin.query("SHOW VERSION").size() == 1);
    }
    auto shutdown = psql_admin(proxy, "SHUTDOWN");
    INFO(shutdown.out);
    CHECK(shutdown.rc == 0);
    CHECK(wait_until([&] { return !proxy.running(); }));
    INFO(proxy.log());
    CHECK(proxy.process().exit_code() == 0);
}

TEST_CASE("SHOW SERVERS answers again and again while clients on both workers run transactions on its servers",
          "[integration][admin][threads]") {
    PostgresServer postgres;
    // Clients on both workers, so servers on lease move between them (and their sockets
    // with them) while the console, on one of them, lists every server; with a check query
    // before each reuse, the session holding a server also stamps its release time.
    auto config = admin_config();
    config.insert(config.find("metrics:"), "worker_spread_above: 0\n");
    config.insert(config.find("databases:"), "  server_check_delay: 0s\n  server_check_query: select 1\n");
    Pgsluice proxy(postgres, config);
    // Four clients on two servers: the servers are on lease (and change workers) most of
    // the time the console looks at them. The clients go on until the console has listed
    // the servers 1,000 times.
    constexpr int kClients = 4;
    constexpr int kListings = 1000;
    std::atomic<bool> stop{false};
    std::atomic<int> transactions{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back([&] {
            try {
                Connection app(proxy.conninfo());
                while (!stop) {
                    if (app.scalar("select 1") != "1") ++failed;
                    ++transactions;
                }
            } catch (const PgError&) {
                ++failed;
            }
        });
    int listings = 0;
    bool well_formed = true;
    try {
        auto admin = admin_connection(proxy);
        for (; listings < kListings; ++listings) {
            for (const auto& row : admin.query("SHOW SERVERS")) {
                // type, user, database, replication, state, addr, port, local_addr, local_port, ...
                well_formed = well_formed && row.size() > 8 && row[0] == "S" && row[7] == "127.0.0.1" &&
                              row[8] != "0" && !row[8].empty();
            }
        }
    } catch (const PgError& e) {
        FAIL_CHECK("SHOW SERVERS failed: " << e.what());
    }
    stop = true;
    for (auto& client : clients) client.join();
    CHECK(failed == 0);
    CHECK(transactions > kClients);
    CHECK(listings == kListings);
    CHECK(well_formed);
    CHECK(proxy.running());
}

TEST_CASE("KILL of a client that waits for a server: its query never runs", "[integration][admin]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, admin_config());
    Connection(proxy.conninfo()).exec("create table orders (id int)");
    auto waiting = std::make_unique<Connection>(proxy.conninfo());
    // Both servers of the pool held by open transactions: the insert queues.
    Connection first(proxy.conninfo());
    Connection second(proxy.conninfo());
    for (auto* holder : {&first, &second}) {
        holder->exec("begin");
        holder->exec("select 1");
    }
    const auto before = proxy.log_count("client waits");
    REQUIRE(PQsendQuery(waiting->raw(), "insert into orders values (1)") == 1);
    REQUIRE(PQflush(waiting->raw()) == 0);
    REQUIRE(wait_until([&] { return proxy.log_count("client waits") > before; }));
    auto admin = admin_connection(proxy);
    admin.exec("KILL app");
    // KILL fails the pool's waiters before it closes the clients: the queued insert gets
    // the error as its result and never reaches a server.
    CHECK(wait_until([&] {
        for (const auto& row : admin.query("SHOW CLIENTS"))
            if (row[2] == "app") return false;
        return true;
    }));
    PGresult* result = PQgetResult(waiting->raw());
    const std::string told = result ? PQresultErrorMessage(result) : PQerrorMessage(waiting->raw());
    INFO(told);
    CHECK(PQresultStatus(result) == PGRES_FATAL_ERROR);
    CHECK(told.find("administrator command") != std::string::npos);
    PQclear(result);
    Connection check(postgres.superuser_conninfo("app"));
    CHECK(check.scalar("select count(*) from orders") == "0");
}
