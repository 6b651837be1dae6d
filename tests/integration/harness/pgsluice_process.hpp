// The real pgsluice binary, started with a config the test writes, ready when its TCP port
// accepts connections, stopped when the test ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "harness/postgres_server.hpp"
#include "harness/process.hpp"

namespace harness {

class Pgsluice {
public:
    // `yaml` may use {PG_PORT}, {PORT}, {SOCKET_DIR}, {PG_SOCKET_DIR} and {METRICS_PORT}
    // (a free port for the metrics endpoint); they are filled in.
    Pgsluice(const PostgresServer& postgres, std::string yaml);
    ~Pgsluice();

    int port() const { return port_; }
    int metrics_port() const { return metrics_port_; }
    const std::string& socket_dir() const { return dir_->path(); }
    std::string conninfo(const std::string& user = "app", const std::string& password = PostgresServer::kAppPassword,
                         const std::string& dbname = "app") const;
    std::string log() const;
    bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
    bool running() { return process_->running(); }
    int stop() { return process_->stop(); }
    Process& process() { return *process_; }

    // A config in the usual shape: database "app" -> the test's PostgreSQL, user "app".
    static std::string basic_config(const std::string& pool_mode, int pool_size, const std::string& extra_defaults = "");

private:
    std::unique_ptr<TempDir> dir_;
    int port_ = 0;
    int metrics_port_ = 0;
    std::unique_ptr<Process> process_;
};

// Runs `pgsluice check -c FILE`; returns the exit code, output in `output`.
int run_check(const std::string& config_path, std::string& output);

}  // namespace harness
