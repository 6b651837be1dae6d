// The file descriptor budget: max_client_conn, the pools' worst case, and a reserve.
#include <catch2/catch.hpp>

#include "config/fd_budget.hpp"
#include "config/loader.hpp"

using namespace pgsluice::config;

TEST_CASE("the fd budget adds max_client_conn, every pool's worst case and a reserve", "[config]") {
    SecretResolver none;
    auto result = load_config(
        "limits: {max_client_conn: 1000}\n"
        "defaults: {pool_size: 10, reserve_pool_size: 2}\n"
        "databases: {app: {}, reports: {max_db_connections: 15}}\n"
        "users: {a: {password: x}, b: {password: y}}\n",
        "t.yaml", none);
    REQUIRE(result.ok());
    const auto budget = fd_budget(*result.config);
    CHECK(budget.clients == 1000);
    CHECK(budget.servers == 2 * 12 + 15);
    CHECK(budget.needed() == 1000 + 39 + kReservedFds);
    CHECK_FALSE(fd_budget_problem(budget, 1103));
    auto problem = fd_budget_problem(budget, 1102);
    REQUIRE(problem);
    CHECK(*problem == "the open file limit (RLIMIT_NOFILE) is 1102 but this config may need 1103 file descriptors "
                      "(limits.max_client_conn 1000 + 39 server connections + 64 for listeners and the rest); clients "
                      "beyond the limit wait in the listen queue; raise LimitNOFILE= / ulimit -n or lower max_client_conn");
}
