// libpq wrappers and a raw login client.
#include "harness/pq.hpp"

#include "harness/raw_socket.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "protocol/auth/md5.hpp"
#include "protocol/auth/scram.hpp"
#include "protocol/error_response.hpp"
#include "protocol/messages.hpp"
#include "protocol/startup.hpp"

namespace harness {

Connection::Connection(const std::string& conninfo) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string message = PQerrorMessage(conn_);
        PQfinish(conn_);
        conn_ = nullptr;
        throw PgError("connect failed: " + message, "");
    }
}

Connection::~Connection() {
    if (conn_) PQfinish(conn_);
}

bool Connection::try_connect(const std::string& conninfo) {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    const bool ok = PQstatus(conn) == CONNECTION_OK;
    PQfinish(conn);
    return ok;
}

Rows Connection::query(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(result);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        PgError error(std::string(PQerrorMessage(conn_)), state ? state : "");
        PQclear(result);
        throw error;
    }
    Rows rows;
    for (int r = 0; r < PQntuples(result); ++r) {
        std::vector<std::string> row;
        for (int c = 0; c < PQnfields(result); ++c) row.emplace_back(PQgetvalue(result, r, c));
        rows.push_back(std::move(row));
    }
    PQclear(result);
    return rows;
}

std::string Connection::scalar(const std::string& sql) {
    auto rows = query(sql);
    if (rows.empty() || rows[0].empty()) throw PgError("no rows from: " + sql, "");
    return rows[0][0];
}

namespace {

struct RawMessage {
    char type = 0;
    std::string body;
};

bool read_exact(int fd, char* out, std::size_t n) {
    while (n > 0) {
        ssize_t got = recv(fd, out, n, 0);
        if (got <= 0) return false;
        out += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

std::optional<RawMessage> read_message(int fd) {
    char header[5];
    if (!read_exact(fd, header, 5)) return std::nullopt;
    auto length = pgsluice::protocol::read_u32(reinterpret_cast<const std::uint8_t*>(header + 1));
    if (length < 4 || length > (1u << 20)) return std::nullopt;
    RawMessage message{header[0], std::string(length - 4, '\0')};
    if (!read_exact(fd, message.body.data(), message.body.size())) return std::nullopt;
    return message;
}

pgsluice::protocol::Bytes bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::optional<std::string> login_error_sqlstate(int port, const std::string& user, const std::string& password,
                                                const std::string& database) {
    namespace protocol = pgsluice::protocol;
    const int fd = connect_loopback(port);
    if (fd < 0) throw PgError("raw login: cannot connect", "");
    send_all(fd, protocol::encode_startup_message({{"user", user}, {"database", database}}));
    std::optional<protocol::scram::Client> scram;
    std::optional<std::string> result;
    while (true) {
        auto message = read_message(fd);
        if (!message) {
            close(fd);
            throw PgError("raw login: connection closed without an ErrorResponse", "");
        }
        std::string out;
        if (message->type == 'E') {
            auto fields = protocol::parse_error_response(bytes_of(message->body));
            result = fields ? fields->sqlstate : "?";
            break;
        }
        if (message->type == 'Z') break;
        if (message->type != 'R') continue;
        auto auth = protocol::parse_authentication(bytes_of(message->body));
        if (!auth) break;
        switch (auth->code) {
            case protocol::AuthCode::sasl:
                scram = protocol::scram::Client::with_password(password, protocol::scram::random_nonce());
                protocol::append_sasl_initial_response(out, protocol::scram::kMechanism, scram->client_first());
                break;
            case protocol::AuthCode::sasl_continue:
                protocol::append_sasl_response(out, scram->handle_server_first(auth->data).message);
                break;
            case protocol::AuthCode::md5_password:
                protocol::append_password_message(out, protocol::md5::salted_response(user, password, auth->md5_salt));
                break;
            case protocol::AuthCode::cleartext_password:
                protocol::append_password_message(out, password);
                break;
            default:
                break;
        }
        if (!out.empty()) send_all(fd, out);
    }
    close(fd);
    return result;
}

std::string query_error(Connection& connection, const std::string& sql) {
    PQsetErrorVerbosity(connection.raw(), PQERRORS_VERBOSE);
    try {
        connection.exec(sql);
    } catch (const PgError& e) {
        return e.what();
    }
    return "";
}

std::string connect_error(const std::string& conninfo, int timeout_ms) {
    PGconn* conn = PQconnectStart(conninfo.c_str());
    if (!conn) return "out of memory";
    // Verbose before the first message is read, so a FATAL's text carries its SQLSTATE.
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    PostgresPollingStatusType status = PQstatus(conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            PQfinish(conn);
            return "timed out connecting";
        }
        pollfd descriptor{PQsocket(conn), static_cast<short>(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
        if (::poll(&descriptor, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        status = PQconnectPoll(conn);
    }
    std::string error = status == PGRES_POLLING_OK ? "" : PQerrorMessage(conn);
    if (status != PGRES_POLLING_OK && error.empty()) error = "connection failed without a message";
    PQfinish(conn);
    return error;
}

}  // namespace harness
