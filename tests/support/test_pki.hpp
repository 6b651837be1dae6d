// A throwaway certificate authority for tests, made with the `openssl` command line in a
// temporary directory: a CA, a server certificate for localhost / 127.0.0.1, and client
// certificates with a chosen CN. Header-only so unit and integration tests share it.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pgsluice::test {

class TestPki {
public:
    // Creates the directory and the CA and server certificate in it.
    explicit TestPki(const std::string& name = "pki") {
        dir_ = std::filesystem::temp_directory_path() /
               (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(dir_);
        run("openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 2"
            " -subj /CN=pgsluice-test-ca -keyout " + path("ca.key") + " -out " + path("ca.crt"));
        issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    }
    ~TestPki() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    std::string path(const std::string& file) const { return (dir_ / file).string(); }
    std::string ca() const { return path("ca.crt"); }
    std::string cert(const std::string& name) const { return path(name + ".crt"); }
    std::string key(const std::string& name) const { return path(name + ".key"); }

    // <name>.crt and <name>.key, signed by the CA, with CN=`cn` (and extensions such as
    // "subjectAltName=DNS:db.example"); `digest` picks the signature's hash.
    void issue(const std::string& name, const std::string& cn, const std::string& extension = {},
               const std::string& digest = "sha256") const {
        run("openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=" + cn + " -keyout " +
            key(name) + " -out " + path(name + ".csr"));
        std::string ext;
        if (!extension.empty()) {
            std::ofstream(path(name + ".ext")) << extension << "\n";
            ext = " -extfile " + path(name + ".ext");
        }
        run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + ca() + " -CAkey " + path("ca.key") +
            " -CAcreateserial -days 2 -" + digest + ext + " -out " + cert(name));
    }

    static void run(const std::string& command) {
        if (std::system((command + " >/dev/null 2>&1").c_str()) != 0)
            throw std::runtime_error("test PKI: command failed: " + command);
    }
    static std::string read(const std::string& file) {
        std::ifstream in(file, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    std::filesystem::path dir_;
};

}  // namespace pgsluice::test
