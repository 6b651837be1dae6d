// The real pgsluice binary, started with a config the test writes, ready when its TCP port
// accepts connections, stopped when the test ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

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
    const std::string& config_path() const { return config_path_; }
    // Replaces the config file (same placeholders as the constructor); the running process
    // sees it at its next reload (SIGHUP, or by itself with watch_config).
    void write_config(std::string yaml) const;
    // Sends SIGHUP and waits for the reload's outcome line in the log; true when it worked.
    bool reload(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // How many times `text` appears in the log so far.
    std::size_t log_count(const std::string& text) const;

    // A config in the usual shape: database "app" -> the test's PostgreSQL, user "app".
    static std::string basic_config(const std::string& pool_mode, int pool_size, const std::string& extra_defaults = "");
    // What basic_config starts with: listeners, 2 workers, no metrics, debug logs, and
    // `defaults` (indented pool keys) under `defaults:`; the caller adds databases and users.
    static std::string config_prelude(const std::string& defaults);
    // `yaml` from basic_config or config_prelude with the metrics endpoint on, at
    // 127.0.0.1:{METRICS_PORT}.
    static std::string with_metrics(std::string yaml);

private:
    std::string fill_in(std::string yaml) const;

    std::unique_ptr<TempDir> dir_;
    int port_ = 0;
    int metrics_port_ = 0;
    int pg_port_ = 0;
    std::string pg_socket_dir_;
    std::string config_path_;
    std::unique_ptr<Process> process_;
};

// Runs `pgsluice check -c FILE`; returns the exit code, output in `output`.
int run_check(const std::string& config_path, std::string& output);
// Runs `pgsluice ARGS...`; returns the exit code, stdout and stderr in `output`.
int run_pgsluice(const std::vector<std::string>& args, std::string& output);

}  // namespace harness
