// Worst-case server connections per backend server, as `check --connect` computes them.
#include <catch2/catch.hpp>

#include "config/backend_demand.hpp"
#include "config/loader.hpp"

using namespace pgsluice::config;

namespace {

Config load(const std::string& yaml) {
    SecretResolver secrets;
    secrets.env = [](const std::string&) -> std::optional<std::string> { return "pw"; };
    secrets.file = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto result = load_config(yaml, "test.yaml", secrets);
    REQUIRE(result.ok());
    return *result.config;
}

const std::string kUsers = "users:\n  a: {password: {env: A}}\n  b: {password: {env: B}}\n  c: {password: {env: C}}\n";

}  // namespace

TEST_CASE("worst case sums users x (pool_size + reserve) per database on each server", "[config][budget]") {
    auto demands = worst_case_connections(load("databases:\n"
                                               "  app: {host: db1, pool_size: 10, reserve_pool_size: 2}\n"
                                               "  reports: {host: db1, pool_size: 5}\n"
                                               "  other: {host: db2, port: 5433, pool_size: 4}\n" +
                                               kUsers));
    REQUIRE(demands.size() == 2);
    CHECK(demands[0].address() == "db1:5432");
    CHECK(demands[0].connections == 3 * 12 + 3 * 5);
    CHECK(demands[1].address() == "db2:5433");
    CHECK(demands[1].connections == 3 * 4);
    CHECK(demands[0].arithmetic.front() == "app: 3 user(s) x (10 pool_size + 2 reserve_pool_size) = 36");
}

TEST_CASE("max_db_connections caps a database and a forced user counts once", "[config][budget]") {
    auto demands = worst_case_connections(load("databases:\n"
                                               "  app: {host: db1, pool_size: 10, max_db_connections: 15}\n"
                                               "  forced: {host: db1, pool_size: 7, user: a}\n" +
                                               kUsers));
    REQUIRE(demands.size() == 1);
    CHECK(demands[0].connections == 15 + 7);
    CHECK(demands[0].arithmetic[0].find("capped by max_db_connections at 15") != std::string::npos);
    CHECK(demands[0].arithmetic[1] == "forced: 1 forced user x (7 pool_size + 0 reserve_pool_size) = 7");
}
