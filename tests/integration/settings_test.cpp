// Settings follow their client, whichever pooled server serves it, and never reach another
// client: startup parameters and `options`, a client's own SET and RESET between
// transactions, and a SET that pgsluice cannot follow (inside a transaction block), which
// makes it restore the server before its next client.
#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

namespace {
constexpr const char* kDefaultSearchPath = "\"$user\", public";
}

TEST_CASE("startup options follow their client and are gone for the next client of the same server",
          "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    Connection tenant(proxy.conninfo() +
                      " options='-c search_path=tenant_a,public -c work_mem=77MB -c statement_timeout=12345'");
    Connection plain(proxy.conninfo());
    plain.exec("create schema tenant_a");
    plain.exec("create table tenant_a.marker (tenant text)");
    plain.exec("insert into tenant_a.marker values ('a')");
    plain.exec("create table public.shared (x int)");
    for (int round = 0; round < 3; ++round) {
        // One server for both: every query below is served by it, in turn.
        CHECK(tenant.scalar("show search_path") == "tenant_a,public");  // as PostgreSQL keeps it
        CHECK(tenant.scalar("select tenant from marker") == "a");      // two schemas, not one named "tenant_a,public"
        CHECK(tenant.scalar("select count(*) from shared") == "0");
        CHECK(tenant.scalar("show work_mem") == "77MB");
        CHECK(tenant.scalar("show statement_timeout") == "12345ms");
        CHECK(plain.scalar("show search_path") == kDefaultSearchPath);
        CHECK(plain.scalar("show work_mem") == "4MB");
        CHECK(plain.scalar("show statement_timeout") == "0");
        CHECK_THROWS_AS(plain.exec("select tenant from marker"), PgError);
    }
    CHECK(tenant.scalar("select pg_backend_pid()") == plain.scalar("select pg_backend_pid()"));
}

TEST_CASE("a client's own SET and RESET between transactions follow it and never reach another client",
          "[integration]") {
    PostgresServer postgres;
    const auto extra = GENERATE(as<std::string>{}, "", "  query_timeout: 30s\n");  // with a limit to watch, and without
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, extra));
    Connection mine(proxy.conninfo() + " options='-c work_mem=8MB'");
    Connection other(proxy.conninfo());

    mine.exec("SET search_path TO tenant_b, public");
    mine.exec("set work_mem = '99MB'");
    mine.exec("SET app.tenant = 'it''s me'");
    CHECK(other.scalar("show search_path") == kDefaultSearchPath);
    CHECK(other.scalar("show work_mem") == "4MB");
    CHECK(other.scalar("select current_setting('app.tenant', true)") == "");
    CHECK(mine.scalar("show search_path") == "tenant_b, public");
    CHECK(mine.scalar("show work_mem") == "99MB");
    CHECK(mine.scalar("select current_setting('app.tenant')") == "it's me");
    CHECK(other.scalar("show work_mem") == "4MB");

    // RESET goes back to what the client asked for at login, as PostgreSQL does.
    mine.exec("RESET work_mem");
    CHECK(mine.scalar("show work_mem") == "8MB");
    CHECK(other.scalar("show work_mem") == "4MB");
    mine.exec("RESET ALL");
    CHECK(mine.scalar("show search_path") == kDefaultSearchPath);
    CHECK(mine.scalar("show work_mem") == "8MB");
    CHECK(mine.scalar("select current_setting('app.tenant', true)") == "");

    // A SET the server refuses changes nothing.
    CHECK_THROWS_AS(mine.exec("SET work_mem TO 'banana'"), PgError);
    CHECK(mine.scalar("show work_mem") == "8MB");
}

TEST_CASE("a SET inside a transaction block or a multi-statement query is undone before the next client",
          "[integration]") {
    PostgresServer postgres;
    const auto extra = GENERATE(as<std::string>{}, "", "  query_timeout: 30s\n");
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1, extra));
    Connection changer(proxy.conninfo());
    Connection next(proxy.conninfo() + " options='-c work_mem=7MB'");

    changer.exec("begin");
    changer.exec("set work_mem = '55MB'");
    changer.exec("set search_path = elsewhere");
    changer.exec("commit");
    CHECK(next.scalar("show work_mem") == "7MB");
    CHECK(next.scalar("show search_path") == kDefaultSearchPath);
    CHECK(proxy.wait_for_log("changed its session settings untracked"));

    changer.exec("set work_mem = '66MB'; select 1");
    CHECK(next.scalar("show work_mem") == "7MB");
    CHECK(next.scalar("show search_path") == kDefaultSearchPath);

    // SET LOCAL ends with its transaction: nothing to restore.
    const auto restores = proxy.log_count("changed its session settings untracked");
    changer.exec("begin");
    changer.exec("set local work_mem = '33MB'");
    CHECK(changer.scalar("show work_mem") == "33MB");
    changer.exec("commit");
    CHECK(next.scalar("show work_mem") == "7MB");
    CHECK(proxy.log_count("changed its session settings untracked") == restores);
}

TEST_CASE("a startup parameter the server refuses fails the login with PostgreSQL's own error", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 1));
    try {
        Connection refused(proxy.conninfo() + " options='-c work_mem=banana'");
        FAIL("the login succeeded");
    } catch (const PgError& e) {
        CHECK(std::string(e.what()).find("invalid value for parameter \"work_mem\"") != std::string::npos);
    }
    // The server it was tried on is not lost for the others.
    Connection fine(proxy.conninfo());
    CHECK(fine.scalar("show work_mem") == "4MB");
}
