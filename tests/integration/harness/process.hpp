// A child process that dies with the test: started with PR_SET_PDEATHSIG, optionally as
// another OS user, output to a log file; stopped (TERM, then KILL) when destroyed.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace harness {

class Process {
public:
    struct Options {
        std::vector<std::string> argv;
        std::string log_file;             // stdout and stderr go here
        std::string run_as;               // OS user name, or empty for ourselves
        std::vector<std::string> env;     // extra NAME=value entries
    };

    explicit Process(const Options& options);
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    pid_t pid() const { return pid_; }
    bool running();                       // false once it exited (and reaped)
    int exit_code() const { return exit_code_; }
    // SIGTERM, wait up to `grace_ms`, then SIGKILL. Returns the exit code (or -signal).
    int stop(int grace_ms = 5000);
    void signal(int sig);

private:
    pid_t pid_ = -1;
    int exit_code_ = 0;
    bool reaped_ = false;
};

// Runs a command to completion (bounded) and returns its exit code; output to `log_file`.
int run_command(const Process::Options& options, int timeout_ms = 60000);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
// A fresh directory under /tmp, removed by the destructor.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A TCP port nobody holds right now, outside the range of outgoing connections' source ports.
int free_port();

}  // namespace harness
