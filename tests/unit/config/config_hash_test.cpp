// Config::hash names the loaded file's bytes (pgsluice_config_info{hash=...}): the same
// bytes give the same hash, any change gives another, and it is never the secret itself.
#include <catch2/catch.hpp>

#include "config/loader.hpp"

using namespace pgsluice::config;

namespace {
SecretResolver no_secrets() {
    SecretResolver resolver;
    resolver.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    resolver.file = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    return resolver;
}
const std::string kConfig = "databases:\n  app: {host: db.internal}\nusers:\n  app: {password: hunter2}\n";
}  // namespace

TEST_CASE("the config hash is 16 hex digits of the file's SHA-256 and follows its bytes", "[config]") {
    auto first = load_config(kConfig, "a.yaml", no_secrets());
    auto again = load_config(kConfig, "b.yaml", no_secrets());
    auto changed = load_config(kConfig + "# a comment\n", "a.yaml", no_secrets());
    REQUIRE(first.ok());
    REQUIRE(again.ok());
    REQUIRE(changed.ok());
    CHECK(first.config->hash.size() == 16);
    CHECK(first.config->hash.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(first.config->hash == again.config->hash);  // the bytes, not the file name
    CHECK(first.config->hash != changed.config->hash);
    CHECK(first.config->hash.find("hunter2") == std::string::npos);
}
