// ALTER SYSTEM for ssl, pg_hba.conf edited in place, pg_reload_conf.
#include "harness/postgres_tls.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness/pq.hpp"
#include "harness/wait.hpp"

namespace harness {

void enable_ssl(const PostgresServer& postgres, const std::string& cert_file, const std::string& key_file) {
    const std::string command = "chown postgres " + key_file + " " + cert_file + " && chmod 600 " + key_file;
    if (std::system(command.c_str()) != 0) throw std::runtime_error("enable_ssl: failed: " + command);
    Connection admin(postgres.superuser_conninfo());
    admin.exec("alter system set ssl_cert_file = '" + cert_file + "'");
    admin.exec("alter system set ssl_key_file = '" + key_file + "'");
    admin.exec("alter system set ssl = on");
    admin.exec("select pg_reload_conf()");
    if (!wait_until([&] { return Connection::try_connect(postgres.superuser_conninfo() + " sslmode=require"); }))
        throw std::runtime_error("enable_ssl: PostgreSQL did not take TLS connections within 10 s");
}

void prepend_hba(const PostgresServer& postgres, const std::string& line) {
    Connection admin(postgres.superuser_conninfo());
    const std::string path = admin.scalar("show hba_file");
    std::stringstream old;
    old << std::ifstream(path).rdbuf();
    std::ofstream(path, std::ios::trunc) << line << "\n" << old.str();
    admin.exec("select pg_reload_conf()");
}

}  // namespace harness
