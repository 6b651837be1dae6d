// `pgsluice check` names the file, line and column of every mistake.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"

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
