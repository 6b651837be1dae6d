// Streamed COPY in and out with libpq.
#include "harness/copy.hpp"

#include "harness/pq.hpp"

namespace harness {

namespace {
// The command's result once the data is through; the rest of the results drained.
void expect_command_ok(PGconn* conn, const char* what) {
    PGresult* end = PQgetResult(conn);
    const bool ok = PQresultStatus(end) == PGRES_COMMAND_OK;
    std::string message = PQresultErrorMessage(end);
    std::string state = PQresultErrorField(end, PG_DIAG_SQLSTATE) ? PQresultErrorField(end, PG_DIAG_SQLSTATE) : "";
    PQclear(end);
    while (PGresult* rest = PQgetResult(conn)) PQclear(rest);
    if (!ok) throw PgError(std::string(what) + ": " + message, state);
}

void start(PGconn* conn, const std::string& sql, ExecStatusType expected) {
    PGresult* started = PQexec(conn, sql.c_str());
    const bool ok = PQresultStatus(started) == expected;
    std::string message = PQresultErrorMessage(started);
    PQclear(started);
    if (!ok) throw PgError("COPY did not start: " + message, "");
}
}  // namespace

void copy_in(PGconn* conn, const std::string& sql, const std::function<std::string_view()>& next_chunk) {
    start(conn, sql, PGRES_COPY_IN);
    for (auto chunk = next_chunk(); !chunk.empty(); chunk = next_chunk())
        if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1)
            throw PgError(std::string("COPY data refused: ") + PQerrorMessage(conn), "");
    if (PQputCopyEnd(conn, nullptr) != 1) throw PgError(std::string("COPY end refused: ") + PQerrorMessage(conn), "");
    expect_command_ok(conn, "COPY FROM STDIN");
}

void copy_out(PGconn* conn, const std::string& sql, const std::function<void(const char*, std::size_t)>& sink) {
    start(conn, sql, PGRES_COPY_OUT);
    char* buffer = nullptr;
    int n;
    while ((n = PQgetCopyData(conn, &buffer, 0)) > 0) {
        sink(buffer, static_cast<std::size_t>(n));
        PQfreemem(buffer);
    }
    if (n != -1) throw PgError(std::string("COPY TO STDOUT failed: ") + PQerrorMessage(conn), "");
    expect_command_ok(conn, "COPY TO STDOUT");
}

}  // namespace harness
