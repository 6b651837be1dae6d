// Users not in the config, looked up in PostgreSQL with auth_user / auth_query: the right
// password logs in (and reaches the server with the keys SCRAM proved, no password stored),
// a wrong one and an unknown user get 28P01, and neither a client's search_path nor the
// auth_user's own can point the lookup at another pg_shadow. The lookup goes over the
// server-side TLS the pools use, and a user whose pg_shadow entry is an MD5 hash logs in to
// PostgreSQL with that hash (md5 on both sides).
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/postgres_tls.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;

namespace {

constexpr const char* kAuthPassword = "lookup-secret";
constexpr const char* kCarolPassword = "carol-secret";

// A role pgsluice looks users up as, and `carol`, who is in PostgreSQL only.
void create_roles(PostgresServer& postgres) {
    Connection admin(postgres.superuser_conninfo());
    // Superuser: pg_shadow is readable by superusers only (a production setup would use a
    // SECURITY DEFINER function instead).
    admin.exec(std::string("CREATE ROLE pgsluice_auth LOGIN SUPERUSER PASSWORD '") + kAuthPassword + "'");
    admin.exec(std::string("CREATE ROLE carol LOGIN PASSWORD '") + kCarolPassword + "'");
}

std::string lookup_config(const std::string& extra = "") {
    return Pgsluice::config_prelude("  pool_mode: transaction\n  pool_size: 2\n") +
           "auth_user: pgsluice_auth\n"
           "limits: {auth_failure_delay: 0}\n" +
           extra +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  pgsluice_auth: {password: " + kAuthPassword + "}\n";
}

}  // namespace

TEST_CASE("a user only PostgreSQL knows logs in through auth_query, and wrong or unknown ones get 28P01",
          "[integration][auth]") {
    PostgresServer postgres;
    create_roles(postgres);
    Pgsluice proxy(postgres, lookup_config());
    Connection carol(proxy.conninfo("carol", kCarolPassword));
    CHECK(carol.scalar("select current_user") == "carol");
    CHECK(login_error_sqlstate(proxy.port(), "carol", "wrong", "app") == "28P01");
    CHECK(login_error_sqlstate(proxy.port(), "nobody", "x", "app") == "28P01");
    // A second client of carol's pool logs in to the server with the key the first proved.
    Connection again(proxy.conninfo("carol", kCarolPassword));
    CHECK(again.scalar("select 1") == "1");
    CHECK(proxy.log().find(kCarolPassword) == std::string::npos);
    CHECK(proxy.log().find("SCRAM-SHA-256$") == std::string::npos);
}

TEST_CASE("neither a client's search_path nor the auth_user's can redirect auth_query", "[integration][auth]") {
    PostgresServer postgres;
    create_roles(postgres);
    {
        // A table named pg_shadow in schema evil that says carol's password is "evil-pw".
        Connection setup(postgres.superuser_conninfo("app"));
        setup.exec("CREATE ROLE evil_source LOGIN PASSWORD 'evil-pw'");
        setup.exec("CREATE SCHEMA evil");
        setup.exec("CREATE TABLE evil.pg_shadow AS SELECT 'carol'::name AS usename, passwd FROM pg_catalog.pg_shadow "
                   "WHERE usename = 'evil_source'");
        setup.exec("GRANT USAGE ON SCHEMA evil TO PUBLIC");
        setup.exec("GRANT SELECT ON evil.pg_shadow TO PUBLIC");
        // The auth_user's own default would put it first, before pg_catalog.
        setup.exec("ALTER ROLE pgsluice_auth SET search_path = evil, pg_catalog");
    }
    // An auth_query written without a schema is the one a search_path could redirect.
    Pgsluice proxy(postgres, lookup_config("auth_query: SELECT usename, passwd FROM pg_shadow WHERE usename=$1\n"));
    const std::string evil_path = " options='-c search_path=evil,pg_catalog'";
    CHECK_THROWS_AS(Connection(proxy.conninfo("carol", "evil-pw") + evil_path), PgError);
    CHECK(login_error_sqlstate(proxy.port(), "carol", "evil-pw", "app") == "28P01");
    Connection carol(proxy.conninfo("carol", kCarolPassword) + evil_path);
    CHECK(carol.scalar("select current_user") == "carol");
}

TEST_CASE("a quote in a user name cannot break out of auth_query", "[integration][auth]") {
    PostgresServer postgres;
    create_roles(postgres);
    Pgsluice proxy(postgres, lookup_config());
    CHECK(login_error_sqlstate(proxy.port(), "x' OR usename='carol", kCarolPassword, "app") == "28P01");
    CHECK(login_error_sqlstate(proxy.port(), "carol'--", kCarolPassword, "app") == "28P01");
    Connection carol(proxy.conninfo("carol", kCarolPassword));
    CHECK(carol.scalar("select 1") == "1");
}

TEST_CASE("auth_query runs over the server-side TLS the pools use", "[integration][auth][tls]") {
    PostgresServer postgres;
    create_roles(postgres);
    pgsluice::test::TestPki pki;
    enable_ssl(postgres, pki.cert("server"), pki.key("server"));
    // PostgreSQL lets the auth_user in over TLS only.
    prepend_hba(postgres, "hostnossl all pgsluice_auth all reject");
    REQUIRE(wait_until([&] {
        return !Connection::try_connect("host=127.0.0.1 port=" + std::to_string(postgres.port()) +
                                        " dbname=app user=pgsluice_auth password=" + kAuthPassword + " sslmode=disable");
    }));
    Pgsluice proxy(postgres,
                   lookup_config("server_tls_sslmode: verify-full\nserver_tls_ca_file: " + pki.ca() + "\n"));
    Connection carol(proxy.conninfo("carol", kCarolPassword));
    CHECK(carol.scalar("select current_user") == "carol");
    CHECK(carol.scalar("select ssl::text from pg_stat_ssl where pid = pg_backend_pid()") == "true");
}

TEST_CASE("a user whose pg_shadow password is an MD5 hash logs in through pgsluice with md5 on both sides",
          "[integration][auth]") {
    PostgresServer postgres;
    create_roles(postgres);
    constexpr const char* kDavePassword = "dave-secret";
    {
        Connection admin(postgres.superuser_conninfo());
        admin.exec("SET password_encryption = 'md5'");
        admin.exec(std::string("CREATE ROLE dave LOGIN PASSWORD '") + kDavePassword + "'");
    }
    // An MD5 hash cannot answer SCRAM: PostgreSQL must ask dave for md5.
    prepend_hba(postgres, "host all dave 127.0.0.1/32 md5");
    const std::string direct = "host=127.0.0.1 port=" + std::to_string(postgres.port()) +
                               " dbname=app user=dave sslmode=disable password=" + kDavePassword;
    REQUIRE(wait_until([&] { return Connection::try_connect(direct); }));

    SECTION("allowed: the hash from pg_shadow logs in to PostgreSQL, no password configured") {
        Pgsluice proxy(postgres, lookup_config("auth_type: md5\nserver_allow_md5_password: true\n"));
        Connection dave(proxy.conninfo("dave", kDavePassword));
        CHECK(dave.scalar("select current_user") == "dave");
        Connection again(proxy.conninfo("dave", kDavePassword));
        CHECK(again.scalar("select 1") == "1");
        CHECK(login_error_sqlstate(proxy.port(), "dave", "wrong", "app") == "28P01");
        const auto hash = Connection(postgres.superuser_conninfo())
                              .scalar("select passwd from pg_shadow where usename = 'dave'");
        CHECK(hash.starts_with("md5"));
        CHECK(proxy.log().find(hash) == std::string::npos);
    }
    SECTION("not allowed: refused, and the log says how to allow it") {
        Pgsluice proxy(postgres, lookup_config("auth_type: md5\n"));
        CHECK_FALSE(Connection::try_connect(proxy.conninfo("dave", kDavePassword)));
        CHECK(proxy.wait_for_log("server_allow_md5_password"));
    }
}
