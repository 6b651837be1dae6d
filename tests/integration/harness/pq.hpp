// libpq made small for tests: a connection that throws on failure, queries that return
// rows as strings, and errors with their SQLSTATE. Plus a raw login that reports the
// SQLSTATE of a refused connection, which libpq does not expose.
#pragma once

#include <libpq-fe.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace harness {

using Rows = std::vector<std::vector<std::string>>;

struct PgError : std::runtime_error {
    std::string sqlstate;
    PgError(std::string message, std::string state) : std::runtime_error(std::move(message)), sqlstate(std::move(state)) {}
};

class Connection {
public:
    explicit Connection(const std::string& conninfo);  // throws PgError (sqlstate empty) when it cannot connect
    Connection(Connection&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    static bool try_connect(const std::string& conninfo);

    Rows query(const std::string& sql);        // throws PgError with the SQLSTATE
    void exec(const std::string& sql) { query(sql); }
    std::string scalar(const std::string& sql);  // first column of the first row
    PGconn* raw() { return conn_; }

private:
    PGconn* conn_ = nullptr;
};

// The error text `sql` fails with, SQLSTATE included (verbose), or "" when it succeeds.
// libpq 15 drops a FATAL's fields once the connection closes but keeps the text it
// formatted, which holds every error the server sent before closing.
std::string query_error(Connection& connection, const std::string& sql);

// Connects with libpq (TLS and all, as PQconnectdb would) and returns the error text of a
// refused connection with its SQLSTATE ("FATAL:  28000: ..."; verbose), or "" when the
// connection succeeded. Bounded by `timeout_ms`; a timeout is an error text too.
std::string connect_error(const std::string& conninfo, int timeout_ms = 20000);

// Speaks the startup and SCRAM/MD5/cleartext login itself; returns the SQLSTATE of the
// ErrorResponse that refused the login, or nullopt when the login succeeded.
std::optional<std::string> login_error_sqlstate(int port, const std::string& user, const std::string& password,
                                                const std::string& database);

}  // namespace harness
