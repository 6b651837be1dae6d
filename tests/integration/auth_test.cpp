// Clients authenticate to pgsluice; refused logins carry PostgreSQL's SQLSTATEs.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

TEST_CASE("the right password logs in with SCRAM and a wrong one is refused with 28P01", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 2));
    CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    CHECK(login_error_sqlstate(proxy.port(), "app", "wrong-password", "app") == "28P01");
    CHECK_THROWS_AS(Connection(proxy.conninfo("app", "wrong-password")), PgError);
    // An unknown user is refused exactly like a wrong password, so users cannot be probed.
    CHECK(login_error_sqlstate(proxy.port(), "nobody", "x", "app") == "28P01");
    CHECK(proxy.wait_for_log("login failed for user \"app\""));
    CHECK(proxy.log().find("wrong-password") == std::string::npos);
    CHECK(proxy.log().find(PostgresServer::kAppPassword) == std::string::npos);
}

TEST_CASE("an unknown database is refused with 3D000", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("session", 2));
    CHECK(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "no_such_db") == "3D000");
    Connection ok(proxy.conninfo());
    CHECK(ok.scalar("select 1") == "1");
}

TEST_CASE("md5 and plain auth_type log clients in with the configured password", "[integration]") {
    PostgresServer postgres;
    const auto auth_type = GENERATE(as<std::string>{}, "md5", "plain");
    // plain sends the password in clear text: refused without TLS unless allowed.
    const std::string allow = auth_type == "plain" ? "allow_plain_without_tls: true\n" : "";
    Pgsluice proxy(postgres, "auth_type: " + auth_type + "\n" + allow + Pgsluice::basic_config("session", 2));
    CHECK_FALSE(login_error_sqlstate(proxy.port(), "app", PostgresServer::kAppPassword, "app").has_value());
    CHECK(login_error_sqlstate(proxy.port(), "app", "nope", "app") == "28P01");
}

TEST_CASE("a user configured with only a SCRAM verifier logs in and reaches the server", "[integration]") {
    PostgresServer postgres;
    Connection admin(postgres.superuser_conninfo());
    const auto verifier = admin.scalar("select rolpassword from pg_authid where rolname = 'app'");
    REQUIRE(verifier.rfind("SCRAM-SHA-256$", 0) == 0);
    std::string config = Pgsluice::basic_config("transaction", 2);
    config.replace(config.find("{env: APP_PASSWORD}"), std::string("{env: APP_PASSWORD}").size(), "'" + verifier + "'");
    Pgsluice proxy(postgres, config);
    Connection client(proxy.conninfo());
    CHECK(client.scalar("select current_user") == "app");
}
