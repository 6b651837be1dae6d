// Child processes for the integration harness.
#include "harness/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <stdexcept>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace harness {

Process::Process(const Options& options) {
    const pid_t parent = getpid();
    // Looked up before the fork: the child of a process with threads (a test's clients) may
    // call only async-signal-safe functions, and getpwnam/initgroups are not.
    std::optional<std::pair<uid_t, gid_t>> run_as;
    if (!options.run_as.empty()) {
        struct passwd* pw = getpwnam(options.run_as.c_str());
        if (!pw) throw std::runtime_error("no such user: " + options.run_as);
        run_as.emplace(pw->pw_uid, pw->pw_gid);
    }
    // The command line and the environment too: putenv and a vector's growth allocate, and
    // an allocator lock another thread held at the fork would hang the child before exec.
    std::vector<char*> argv;
    for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** entry = environ; *entry; ++entry) {
        const std::string_view existing(*entry);
        const auto name = existing.substr(0, existing.find('=') + 1);  // "NAME="
        const bool replaced = std::any_of(options.env.begin(), options.env.end(),
                                          [&](const std::string& set) { return set.starts_with(name); });
        if (!replaced) envp.push_back(*entry);
    }
    for (const auto& set : options.env) envp.push_back(const_cast<char*>(set.c_str()));
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fd = open(options.log_file.empty() ? "/dev/null" : options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        if (run_as) {
            const gid_t gid = run_as->second;
            if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(run_as->first) != 0) _exit(126);
        }
        // After the credential change, which clears it: die with the test process.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(125);
        execvpe(argv[0], argv.data(), envp.data());
        _exit(127);
    }
}

Process::~Process() {
    if (!reaped_) stop(2000);
}

bool Process::running() {
    if (reaped_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return false;
    }
    return true;
}

void Process::signal(int sig) {
    if (!reaped_) kill(pid_, sig);
}

int Process::stop(int grace_ms) {
    if (reaped_) return exit_code_;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid_, SIGKILL);
            int status = 0;
            waitpid(pid_, &status, 0);
            reaped_ = true;
            exit_code_ = -SIGKILL;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
}

int run_command(const Process::Options& options, int timeout_ms) {
    Process process(options);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (process.running()) {
        if (std::chrono::steady_clock::now() > deadline) return process.stop(100) == 0 ? -1 : -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return process.exit_code();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

int free_port() {
    // Below the kernel's ephemeral range (32768 and up here): a port the kernel handed out
    // and took back can be taken again, before the test binds it, as the source port of
    // any outgoing connection (the tests make thousands), and the proxy then fails to
    // listen. A random start keeps parallel test processes apart.
    constexpr int kFirst = 20000;
    constexpr int kCount = 12000;
    thread_local std::mt19937 random(std::random_device{}());
    const int start = static_cast<int>(random() % kCount);
    for (int i = 0; i < kCount; ++i) {
        const int port = kFirst + (start + i) % kCount;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        close(fd);
        if (bound) return port;
    }
    throw std::runtime_error("no free TCP port between 20000 and 32000");
}

}  // namespace harness
