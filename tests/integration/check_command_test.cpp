// `pgsluice check` names the file, line and column of every mistake.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/postgres_server.hpp"

using namespace harness;

TEST_CASE("check on a config with a typo exits 1 and names the line", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/typo.yaml";
    write_file(path,
               "listen:\n"
               "  port: 6432\n"
               "defaults:\n"
               "  pool_szie: 5\n"
               "databases:\n"
               "  app: {host: 127.0.0.1}\n"
               "users:\n"
               "  app: {password: {env: HOME}}\n");
    std::string output;
    CHECK(run_check(path, output) == 1);
    CHECK(output.find(path + ":4:3: error: unknown key 'pool_szie'") != std::string::npos);
    CHECK(output.find("did you mean 'pool_size'") != std::string::npos);
}

TEST_CASE("check on a valid config exits 0", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/good.yaml";
    write_file(path,
               "databases:\n"
               "  app: {host: 127.0.0.1, pool_size: 5}\n"
               "users:\n"
               "  app: {password: {env: HOME}}\n");
    std::string output;
    CHECK(run_check(path, output) == 0);
    CHECK(output.find("OK") != std::string::npos);
}

TEST_CASE("run refuses an invalid config with its errors and does not start", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/bad.yaml";
    write_file(path, "databases:\n  app: {port: 0}\n");
    int rc = run_command({{PGSLUICE_BINARY, "run", "-c", path}, dir.path() + "/out", "", {}}, 30000);
    CHECK(rc == 1);
    CHECK(read_file(dir.path() + "/out").find(path + ":2:") != std::string::npos);
}

TEST_CASE("check --diff prints one change per line and marks those that need a restart", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string old_path = dir.path() + "/old.yaml";
    const std::string new_path = dir.path() + "/new.yaml";
    write_file(old_path,
               "listen: {port: 6432}\n"
               "databases:\n"
               "  app: {host: 127.0.0.1, pool_size: 10}\n"
               "  old: {host: 127.0.0.1}\n"
               "users:\n"
               "  app: {password: {env: APP_PASSWORD}}\n");
    write_file(new_path,
               "listen: {port: 6433}\n"
               "databases:\n"
               "  app: {host: 127.0.0.1, pool_size: 20}\n"
               "users:\n"
               "  app: {password: {env: HOME}}\n"
               "  bob: {password: {env: APP_PASSWORD}}\n");
    std::string output;
    CHECK(run_pgsluice({"check", "--diff", old_path, new_path}, output) == 0);
    INFO(output);
    CHECK(output.find("listen.port: 6432 -> 6433 (needs a restart, not applied live)\n") != std::string::npos);
    CHECK(output.find("databases.app.pool_size: 10 -> 20\n") != std::string::npos);
    CHECK(output.find("databases.old: removed\n") != std::string::npos);
    CHECK(output.find("users.bob: added\n") != std::string::npos);
    CHECK(output.find("users.app.password: password changed\n") != std::string::npos);
    CHECK(output.find(PostgresServer::kAppPassword) == std::string::npos);
    CHECK(output.find("5 change(s), 1 of them need a restart") != std::string::npos);
}

TEST_CASE("check --diff with an invalid file exits 1 with its diagnostics", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string good = dir.path() + "/good.yaml";
    const std::string bad = dir.path() + "/bad.yaml";
    write_file(good, "databases:\n  app: {host: 127.0.0.1}\nusers:\n  app: {password: {env: HOME}}\n");
    write_file(bad, "databases:\n  app: {port: 0}\n");
    std::string output;
    CHECK(run_pgsluice({"check", "--diff", good, bad}, output) == 1);
    CHECK(output.find(bad + ":2:") != std::string::npos);
}

namespace {
std::string capacity_config(const PostgresServer& postgres, int pool_size) {
    return "databases:\n"
           "  app: {host: 127.0.0.1, port: " + std::to_string(postgres.port()) + ", pool_size: " +
           std::to_string(pool_size) + "}\n"
           "  reports: {host: 127.0.0.1, port: " + std::to_string(postgres.port()) + ", dbname: app, pool_size: " +
           std::to_string(pool_size) + "}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}
}  // namespace

TEST_CASE("check --connect fails when the worst case exceeds the server's max_connections", "[integration]") {
    PostgresServer postgres(12);  // room: 12 - 3 superuser_reserved_connections - others
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/big.yaml";
    write_file(path, capacity_config(postgres, 5));  // 2 databases x 1 user x 5 = 10
    std::string output;
    CHECK(run_pgsluice({"check", "-c", path, "--connect"}, output) == 1);
    INFO(output);
    const std::string server = "127.0.0.1:" + std::to_string(postgres.port());
    CHECK(output.find("error: " + server + ": this config may open 10 server connections but the server has room for") !=
          std::string::npos);
    CHECK(output.find("max_connections 12 - superuser_reserved_connections 3") != std::string::npos);
    CHECK(output.find("app: 1 user(s) x (5 pool_size + 0 reserve_pool_size) = 5") != std::string::npos);
}

TEST_CASE("check --connect passes when the config fits and counts --instances", "[integration]") {
    PostgresServer postgres(12);
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/small.yaml";
    write_file(path, capacity_config(postgres, 1));  // 2 per instance
    std::string output;
    CHECK(run_pgsluice({"check", "-c", path, "--connect"}, output) == 0);
    INFO(output);
    CHECK(output.find(": OK, at most 2 of ") != std::string::npos);
    CHECK(run_pgsluice({"check", "-c", path, "--connect", "--instances", "5"}, output) == 1);
    CHECK(output.find("2 per instance x 5 instance(s) = 10") != std::string::npos);
}

TEST_CASE("check --connect reports an unreachable backend as an error", "[integration]") {
    TempDir dir("pgsluice-check");
    const std::string path = dir.path() + "/down.yaml";
    const int port = free_port();
    write_file(path, "databases:\n  app: {host: 127.0.0.1, port: " + std::to_string(port) +
                         ", server_connect_timeout: 2s}\nusers:\n  app: {password: {env: APP_PASSWORD}}\n");
    std::string output;
    CHECK(run_pgsluice({"check", "-c", path, "--connect"}, output) == 1);
    CHECK(output.find("error: 127.0.0.1:" + std::to_string(port) + ": could not connect to server") != std::string::npos);
}
