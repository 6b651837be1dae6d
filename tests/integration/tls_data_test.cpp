// Bytes over TLS arrive whole and in order, however the records fall: pgsluice reads a TLS
// client's ciphertext into an inbox of its own (one record of up to 16 KB at a time) that
// OpenSSL decrypts from. A query far larger than a record, an answer of hundreds of records,
// a COPY each way, a pipeline whose statements share records, and a transaction spread over
// round trips, in transaction and in session mode; a second TLS client reads what it wrote.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "harness/copy.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "tests/support/test_pki.hpp"

using namespace harness;

namespace {

std::string tls_config(const pgsluice::test::TestPki& pki, const std::string& mode) {
    return "client_tls_sslmode: require\nclient_tls_cert_file: " + pki.cert("server") +
           "\nclient_tls_key_file: " + pki.key("server") + "\n" + Pgsluice::basic_config(mode, 2);
}

// The COPY text of `rows` rows, each with a number and a line of varying length.
std::string copy_text(int rows) {
    std::string text;
    for (int i = 0; i < rows; ++i) text += std::to_string(i) + "\t" + std::string(50 + i % 300, 'a' + i % 26) + "\n";
    return text;
}

void copy_in(PGconn* conn, const std::string& text) {
    std::size_t at = 0;
    harness::copy_in(conn, "copy lines from stdin", [&]() -> std::string_view {
        const auto chunk = std::string_view(text).substr(at, 100 * 1024);
        at += chunk.size();
        return chunk;
    });
}

std::string copy_out(PGconn* conn) {
    std::string text;
    harness::copy_out(conn, "copy (select * from lines order by id) to stdout",
                      [&](const char* data, std::size_t n) { text.append(data, n); });
    return text;
}

}  // namespace

TEST_CASE("TLS clients move large queries, answers, COPY and pipelines intact", "[integration][tls]") {
    const auto mode = GENERATE(as<std::string>{}, "transaction", "session");
    PostgresServer postgres;
    pgsluice::test::TestPki pki;
    Pgsluice proxy(postgres, tls_config(pki, mode));
    const auto conninfo = proxy.conninfo() + " sslmode=require";
    Connection client(conninfo);
    REQUIRE(PQsslInUse(client.raw()) == 1);
    Connection direct(postgres.superuser_conninfo("app"));

    SECTION("a query of 300 KB and an answer of 640 KB") {
        const std::string literal(300 * 1024, 'q');
        CHECK(client.scalar("select length('" + literal + "')") == std::to_string(literal.size()));
        const std::string big = "select string_agg(md5(g::text), '' order by g) from generate_series(1, 20000) g";
        const auto through_tls = client.scalar(big);
        CHECK(through_tls.size() == 640000);
        CHECK(through_tls == direct.scalar(big));
    }

    SECTION("COPY in and out, 2 MB each way") {
        client.exec("create table lines(id int, line text)");
        const auto text = copy_text(10000);
        REQUIRE(text.size() > 2'000'000);
        copy_in(client.raw(), text);
        const auto back = copy_out(client.raw());
        const auto differs = std::mismatch(back.begin(), back.end(), text.begin(), text.end());
        INFO("sent " << text.size() << " bytes, got " << back.size() << "; the first difference at byte "
                     << (differs.first - back.begin()));
        CHECK(back == text);
        CHECK(direct.scalar("select count(*) from lines") == "10000");
    }

    SECTION("a pipeline of 200 statements written before any answer is read") {
        PGconn* conn = client.raw();
        REQUIRE(PQenterPipelineMode(conn) == 1);
        for (int i = 0; i < 200; ++i) {
            const std::string value = std::to_string(i);
            const char* params[] = {value.c_str()};
            REQUIRE(PQsendQueryParams(conn, "select $1::int * 3", 1, nullptr, params, nullptr, nullptr, 0) == 1);
        }
        REQUIRE(PQpipelineSync(conn) == 1);
        for (int i = 0; i < 200; ++i) {
            PGresult* result = PQgetResult(conn);
            REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
            CHECK(std::string(PQgetvalue(result, 0, 0)) == std::to_string(i * 3));
            PQclear(result);
            REQUIRE(PQgetResult(conn) == nullptr);
        }
        PGresult* sync = PQgetResult(conn);
        CHECK(PQresultStatus(sync) == PGRES_PIPELINE_SYNC);
        PQclear(sync);
        REQUIRE(PQexitPipelineMode(conn) == 1);
    }

    SECTION("a transaction over several round trips, another TLS client after it") {
        client.exec("create table ledger(n int)");
        client.exec("begin");
        for (int i = 1; i <= 20; ++i) client.exec("insert into ledger values (" + std::to_string(i) + ")");
        CHECK(client.scalar("select sum(n) from ledger") == "210");
        client.exec("commit");
        Connection other(conninfo);
        CHECK(other.scalar("select count(*) from ledger") == "20");
    }

    CHECK(client.scalar("select 'still here'") == "still here");
    CHECK(proxy.running());
}
