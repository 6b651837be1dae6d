// Starting and stopping the pgsluice binary under test.
#include "harness/pgsluice_process.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <stdexcept>

#include "harness/wait.hpp"

namespace harness {

namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

bool accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

// The socket file appears at bind(), before listen(): only a connection that succeeds says
// that it accepts.
bool accepts_unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
    path.copy(addr.sun_path, path.size());
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

}  // namespace

std::string Pgsluice::config_prelude(const std::string& defaults) {
    return "listen: {address: 127.0.0.1, port: {PORT}, unix_socket_dir: {SOCKET_DIR}}\n"
           "workers: 2\n"
           // Both workers take clients from the first, so every test crosses threads (clients
           // on one worker, servers moving from the other); worker_spread_test covers the rest.
           "worker_spread_above: 0\n"
           "metrics: {enabled: false}\n"
           "log_level: debug\n"
           "defaults:\n" +
           defaults;
}

std::string Pgsluice::with_metrics(std::string yaml) {
    const std::string off = "metrics: {enabled: false}\n";
    const auto at = yaml.find(off);
    if (at == std::string::npos) throw std::runtime_error("with_metrics: the config has no 'metrics: {enabled: false}' line");
    return yaml.replace(at, off.size(), "metrics: {enabled: true, address: 127.0.0.1, port: {METRICS_PORT}}\n");
}

std::string Pgsluice::basic_config(const std::string& pool_mode, int pool_size, const std::string& extra_defaults) {
    return config_prelude("  pool_mode: " + pool_mode + "\n  pool_size: " + std::to_string(pool_size) + "\n" +
                          extra_defaults) +
           "databases:\n"
           "  app: {host: 127.0.0.1, port: {PG_PORT}}\n"
           "users:\n"
           "  app: {password: {env: APP_PASSWORD}}\n";
}

std::string Pgsluice::fill_in(std::string yaml) const {
    replace_all(yaml, "{PG_PORT}", std::to_string(pg_port_));
    replace_all(yaml, "{PG_SOCKET_DIR}", pg_socket_dir_);
    replace_all(yaml, "{PORT}", std::to_string(port_));
    replace_all(yaml, "{SOCKET_DIR}", dir_->path());
    replace_all(yaml, "{METRICS_PORT}", std::to_string(metrics_port_));
    return yaml;
}

void Pgsluice::write_config(std::string yaml) const {
    // Write then rename, as an editor or a config manager would: never a half-written file.
    const std::string temporary = config_path_ + ".new";
    write_file(temporary, fill_in(std::move(yaml)));
    std::rename(temporary.c_str(), config_path_.c_str());
}

std::size_t Pgsluice::log_count(const std::string& text) const {
    std::size_t n = 0;
    const auto all = log();
    for (std::size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
    return n;
}

bool Pgsluice::reload(std::chrono::milliseconds timeout) {
    const auto ok_before = log_count("config reloaded from");
    const auto failed_before = log_count("reload failed, keeping the old config");
    process_->signal(SIGHUP);
    bool ok = false;
    wait_until(
        [&] {
            ok = log_count("config reloaded from") > ok_before;
            return ok || log_count("reload failed, keeping the old config") > failed_before;
        },
        timeout);
    return ok;
}

Pgsluice::Pgsluice(const PostgresServer& postgres, std::string yaml) {
    dir_ = std::make_unique<TempDir>("pgsluice-proxy");
    port_ = free_port();
    metrics_port_ = free_port();
    pg_port_ = postgres.port();
    pg_socket_dir_ = postgres.socket_dir();
    config_path_ = dir_->path() + "/pgsluice.yaml";
    const std::string& config = config_path_;
    const bool unix_socket = yaml.find("unix_socket_dir: {SOCKET_DIR}") != std::string::npos;
    write_file(config, fill_in(std::move(yaml)));
    process_ = std::make_unique<Process>(Process::Options{{PGSLUICE_BINARY, "run", "-c", config},
                                                         dir_->path() + "/pgsluice.log",
                                                         "",
                                                         {std::string("APP_PASSWORD=") + PostgresServer::kAppPassword}});
    // The Unix socket is bound just after the TCP port: a test may use either at once.
    const auto socket_file = dir_->path() + "/.s.PGSQL." + std::to_string(port_);
    const auto listening = [&] { return accepts(port_) && (!unix_socket || accepts_unix(socket_file)); };
    if (!wait_until([&] { return !process_->running() || listening(); }) || !process_->running()) {
        // What the process was: still the test binary (stuck before exec) or pgsluice, and
        // where it waited. Its log alone may be empty.
        std::string what = "exited";
        if (process_->running()) {
            const auto proc = "/proc/" + std::to_string(process_->pid());
            auto command = read_file(proc + "/cmdline");
            std::replace(command.begin(), command.end(), '\0', ' ');
            what = "running \"" + command + "\", waiting in " + read_file(proc + "/wchan");
        }
        throw std::runtime_error("pgsluice did not start listening on port " + std::to_string(port_) + " (" + what +
                                 "):\n" + log());
    }
}

Pgsluice::~Pgsluice() {
    process_->stop();
    // A sanitizer's report from pgsluice fails the test that ran it, including one the test
    // could not see: a data race (ThreadSanitizer goes on after reporting), a leak found at
    // exit, a finding during the shutdown.
    const auto text = log();
    for (const char* mark : {"WARNING: ThreadSanitizer:", "ERROR: AddressSanitizer:", "ERROR: LeakSanitizer:",
                             "SUMMARY: UndefinedBehaviorSanitizer:"}) {
        const auto at = text.find(mark);
        if (at == std::string::npos) continue;
        static int reports = 0;
        const std::string kept = "/tmp/pgsluice-sanitizer-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(++reports) + ".log";
        write_file(kept, text);
        FAIL_CHECK("pgsluice reported " << mark << " (whole log kept in " << kept << "):\n"
                                        << text.substr(at > 2000 ? at - 2000 : 0, 12000));
        break;
    }
}

std::string Pgsluice::conninfo(const std::string& user, const std::string& password, const std::string& dbname) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname + " user=" + user +
           " password=" + password + " connect_timeout=10 sslmode=disable";
}

std::string Pgsluice::log() const { return read_file(dir_->path() + "/pgsluice.log"); }

bool Pgsluice::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return log().find(text) != std::string::npos; }, timeout);
}

int run_check(const std::string& config_path, std::string& output) {
    TempDir dir("pgsluice-check");
    const std::string out = dir.path() + "/out.txt";
    int rc = run_command({{PGSLUICE_BINARY, "check", "-c", config_path}, out, "", {}}, 30000);
    output = read_file(out);
    return rc;
}

int run_pgsluice(const std::vector<std::string>& args, std::string& output) {
    TempDir dir("pgsluice-cmd");
    const std::string out = dir.path() + "/out.txt";
    std::vector<std::string> argv{PGSLUICE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    int rc = run_command({argv, out, "", {std::string("APP_PASSWORD=") + PostgresServer::kAppPassword}}, 30000);
    output = read_file(out);
    return rc;
}

}  // namespace harness
