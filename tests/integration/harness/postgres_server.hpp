// A throwaway PostgreSQL 15 per test: initdb'd once per build into a template (under a
// file lock, so parallel tests share it), copied, and started as the `postgres` OS user
// on a free port with scram-sha-256. It dies with the test process however the test ends.
#pragma once

#include <memory>
#include <string>

#include "harness/process.hpp"

namespace harness {

class PostgresServer {
public:
    static constexpr const char* kSuperuserPassword = "postgres-pw";
    static constexpr const char* kAppPassword = "app-secret";  // role `app`, owner of database `app`
    static constexpr const char* kOtherPassword = "other-secret";  // role `other`: a second user of `app`

    explicit PostgresServer(int max_connections = 100);
    ~PostgresServer();

    int port() const { return port_; }
    const std::string& socket_dir() const { return dir_->path(); }
    // A libpq connection string for the superuser, straight to PostgreSQL.
    std::string superuser_conninfo(const std::string& dbname = "postgres") const;

    void stop();   // immediate shutdown (simulates a crash for the proxy)
    void start();  // again, on the same port and data

private:
    std::unique_ptr<TempDir> dir_;
    std::string data_dir_;
    int port_ = 0;
    int max_connections_;
    std::unique_ptr<Process> process_;
};

}  // namespace harness
