// Throwaway PostgreSQL servers for integration tests.
#include "harness/postgres_server.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "harness/pq.hpp"
#include "harness/veth_link.hpp"
#include "harness/wait.hpp"

namespace harness {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

void chown_to_postgres(const std::string& path) {
    struct passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("no postgres OS user: install postgresql-15");
    if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + path + " failed");
}

// The template data directory, created once per build directory.
std::string template_dir() {
    const std::string root = PGSLUICE_TEST_STATE_DIR;
    std::filesystem::create_directories(root);
    const std::string done = root + "/pg-template";
    if (std::filesystem::exists(done + "/PG_VERSION")) return done;

    int lock = open((root + "/pg-template.lock").c_str(), O_CREAT | O_RDWR, 0644);
    flock(lock, LOCK_EX);
    if (!std::filesystem::exists(done + "/PG_VERSION")) {
        const std::string work = root + "/pg-template.work";
        std::filesystem::remove_all(work);
        std::filesystem::create_directories(work);
        chown_to_postgres(root);
        chown_to_postgres(work);
        write_file(work + "/pw", PostgresServer::kSuperuserPassword);
        chown_to_postgres(work + "/pw");
        const std::string data = work + "/data";
        int rc = run_command({{kBin + "initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                               "--pwfile=" + work + "/pw", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"},
                              root + "/initdb.log", "postgres", {}},
                             120000);
        if (rc != 0) {
            flock(lock, LOCK_UN);
            close(lock);
            throw std::runtime_error("initdb failed, see " + root + "/initdb.log");
        }
        std::filesystem::rename(data, done);
        std::filesystem::remove_all(work);
    }
    flock(lock, LOCK_UN);
    close(lock);
    return done;
}

}  // namespace


PostgresServer::PostgresServer(int max_connections) : max_connections_(max_connections) { create(); }

PostgresServer::PostgresServer(int max_connections, std::string netns, std::string address)
    : netns_(std::move(netns)), address_(std::move(address)), max_connections_(max_connections) {
    create();
}

void PostgresServer::create() {
    const std::string source = template_dir();
    dir_ = std::make_unique<TempDir>("pgsluice-pg");
    chown_to_postgres(dir_->path());
    data_dir_ = dir_->path() + "/data";
    std::filesystem::copy(source, data_dir_, std::filesystem::copy_options::recursive);
    run_command({{"chown", "-R", "postgres:postgres", data_dir_}, "", "", {}});
    std::filesystem::permissions(data_dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    // Reached over a veth link, not the loopback: the template's pg_hba.conf lets in
    // 127.0.0.1 and the Unix socket only.
    if (!netns_.empty()) {
        std::ofstream hba(data_dir_ + "/pg_hba.conf", std::ios::app);
        hba << "host all all " << address_ << "/24 scram-sha-256\n";
    }
    port_ = free_port();
    start();
    Connection admin(superuser_conninfo());
    admin.exec(std::string("CREATE ROLE app LOGIN PASSWORD '") + kAppPassword + "'");
    admin.exec("CREATE DATABASE app OWNER app");
    admin.exec(std::string("CREATE ROLE other LOGIN PASSWORD '") + kOtherPassword + "'");
}

PostgresServer::~PostgresServer() { stop(); }

void PostgresServer::start() {
    // A child forked by this thread starts in the thread's network namespace.
    std::optional<EnterNetns> inside;
    if (!netns_.empty()) inside.emplace(netns_);
    process_ = std::make_unique<Process>(Process::Options{
        {kBin + "postgres", "-D", data_dir_, "-p", std::to_string(port_), "-k", dir_->path(), "-c",
         "listen_addresses=" + address_, "-c", "fsync=off", "-c", "max_connections=" + std::to_string(max_connections_),
         "-c", "shared_buffers=16MB", "-c", "log_min_messages=warning"},
        dir_->path() + "/postgres.log",
        "postgres",
        {}});
    inside.reset();
    const bool up = wait_until(
        [&] {
            if (!process_->running()) return true;
            return Connection::try_connect(superuser_conninfo());
        },
        std::chrono::seconds(30));
    if (!up || !process_->running())
        throw std::runtime_error("PostgreSQL did not start (" +
                                 (process_->running() ? std::string("still not answering")
                                                      : "exit code " + std::to_string(process_->exit_code())) +
                                 "): " + read_file(dir_->path() + "/postgres.log"));
}

void PostgresServer::stop() {
    if (!process_) return;
    process_->signal(SIGQUIT);  // immediate shutdown, like a crash from a client's view
    process_->stop(10000);
    process_.reset();
}

int PostgresServer::postmaster_pid() const {
    const auto text = read_file(data_dir_ + "/postmaster.pid");
    return std::stoi(text.substr(0, text.find('\n')));
}

void PostgresServer::signal_all(int sig) const {
    const int postmaster = postmaster_pid();
    std::vector<int> children;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        int ppid = 0;
        rest >> state >> ppid;
        if (ppid == postmaster) children.push_back(std::stoi(name));
    }
    // The postmaster first, so it starts no new backend the loop would miss when stopping.
    ::kill(postmaster, sig);
    for (int pid : children) ::kill(pid, sig);
}

std::string PostgresServer::superuser_conninfo(const std::string& dbname) const {
    return "host=" + address_ + " port=" + std::to_string(port_) + " dbname=" + dbname + " user=postgres password=" +
           kSuperuserPassword + " connect_timeout=5";
}

}  // namespace harness
