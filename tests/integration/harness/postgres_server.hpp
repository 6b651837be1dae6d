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
    // Started inside the network namespace `netns` (harness/veth_link.hpp), listening on
    // `address` there: reached over a link a test can cut.
    PostgresServer(int max_connections, std::string netns, std::string address);
    ~PostgresServer();

    int port() const { return port_; }
    const std::string& address() const { return address_; }
    const std::string& socket_dir() const { return dir_->path(); }
    // A libpq connection string for the superuser, straight to PostgreSQL.
    std::string superuser_conninfo(const std::string& dbname = "postgres") const;

    void stop();   // immediate shutdown (simulates a crash for the proxy)
    void start();  // again, on the same port and data
    // The postmaster's pid (from postmaster.pid), and a signal to it and every process it
    // started: SIGSTOP freezes the whole server as a hung host would, SIGCONT thaws it.
    int postmaster_pid() const;
    void signal_all(int sig) const;

private:
    void create();

    std::string netns_;
    std::string address_ = "127.0.0.1";
    std::unique_ptr<TempDir> dir_;
    std::string data_dir_;
    int port_ = 0;
    int max_connections_;
    std::unique_ptr<Process> process_;
};

}  // namespace harness
