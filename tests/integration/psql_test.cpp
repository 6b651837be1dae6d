// The everyday client: psql through the TCP port and through the Unix socket directory.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"

using namespace harness;

namespace {
std::string psql(const std::vector<std::string>& args, int& rc) {
    TempDir dir("pgsluice-psql");
    std::vector<std::string> argv = {"/usr/bin/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
    argv.insert(argv.end(), args.begin(), args.end());
    rc = run_command({argv, dir.path() + "/out", "",
                      {std::string("PGPASSWORD=") + PostgresServer::kAppPassword, "PGCONNECT_TIMEOUT=10"}},
                     30000);
    return read_file(dir.path() + "/out");
}
}  // namespace

TEST_CASE("psql queries through the TCP port and through the Unix socket", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    int rc = 0;
    auto out = psql({"-h", "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "app", "app", "-c",
                     "select 'via tcp', current_user"},
                    rc);
    CHECK(rc == 0);
    CHECK(out.find("via tcp|app") != std::string::npos);
    out = psql({"-h", proxy.socket_dir(), "-p", std::to_string(proxy.port()), "-U", "app", "app", "-c",
                "select 'via unix socket'"},
               rc);
    CHECK(rc == 0);
    CHECK(out.find("via unix socket") != std::string::npos);
}

TEST_CASE("listen.unix_socket_mode is the mode of the socket file, and the socket serves", "[integration][hygiene]") {
    PostgresServer postgres;
    std::string yaml = Pgsluice::basic_config("transaction", 2);
    const std::string dir_key = "unix_socket_dir: {SOCKET_DIR}}";
    yaml.replace(yaml.find(dir_key), dir_key.size(), "unix_socket_dir: {SOCKET_DIR}, unix_socket_mode: 0770}");
    Pgsluice proxy(postgres, yaml);
    struct stat st {};
    const std::string path = proxy.socket_dir() + "/.s.PGSQL." + std::to_string(proxy.port());
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0770);
    int rc = 0;
    const auto out = psql({"-h", proxy.socket_dir(), "-p", std::to_string(proxy.port()), "-U", "app", "app", "-c",
                           "select 'through 0770'"},
                          rc);
    CHECK(rc == 0);
    CHECK(out.find("through 0770") != std::string::npos);
}

TEST_CASE("psql runs a multi-statement script with COPY through pgsluice", "[integration]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::basic_config("transaction", 2));
    TempDir dir("pgsluice-script");
    write_file(dir.path() + "/script.sql",
               "create table t(a int, b text);\n"
               "copy t from stdin;\n1\tone\n2\ttwo\n\\.\n"
               "begin;\ninsert into t values (3, 'three');\ncommit;\n"
               "select string_agg(b, ',' order by a) from t;\n");
    int rc = 0;
    auto out = psql({"-h", "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "app", "app", "-f",
                     dir.path() + "/script.sql"},
                    rc);
    CHECK(rc == 0);
    CHECK(out.find("one,two,three") != std::string::npos);
}
