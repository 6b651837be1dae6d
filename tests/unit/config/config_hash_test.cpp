// Config::hash names the loaded file's bytes (pgsluice_config_info{hash=...}): the same
// bytes give the same hash, any change gives another, and it is never the secret itself.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

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

std::string sha256_hex(const std::string& text, unsigned bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    std::string out;
    for (unsigned i = 0; i < bytes; ++i) {
        out += "0123456789abcdef"[digest[i] >> 4];
        out += "0123456789abcdef"[digest[i] & 15];
    }
    return out;
}

std::string hash_of(const std::string& yaml) {
    auto result = load_config(yaml, "a.yaml", no_secrets());
    REQUIRE(result.ok());
    return result.config->hash;
}
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

TEST_CASE("the config hash covers a digest of each inline secret, never the secret in the clear", "[config]") {
    // What is hashed: the file with each inline secret replaced by its SHA-256.
    const std::string digested = "databases:\n  app: {host: db.internal}\nusers:\n  app: {password: <secret sha256:" +
                                 sha256_hex("hunter2", 32) + ">}\n";
    CHECK(hash_of(kConfig) == sha256_hex(digested, 8));
    // However the secret is written (plain, quoted, escaped, a block scalar), the same secret
    // hashes the same, and another secret hashes differently.
    const std::string users = "databases:\n  app: {host: db.internal}\nusers:\n  app:\n    password: ";
    const auto plain = hash_of(users + "hunter2\n");
    CHECK(hash_of(users + "\"hunter2\"\n") == plain);
    CHECK(hash_of(users + "'hunter2'\n") == plain);
    CHECK(hash_of(users + "\"hunt\\x65r2\"\n") == plain);
    CHECK(hash_of(users + "|-\n      hunter2\n") == plain);
    CHECK(hash_of(users + "hunter2 # the password\n") != plain);  // the comment is part of the file
    CHECK(hash_of(users + "hunter3\n") != plain);
    CHECK(hash_of(users + "'it''s'\n") != hash_of(users + "'it''z'\n"));
    // Verifiers and secrets from the environment or a file are hashed as before.
    CHECK(hash_of(kConfig) != hash_of(users + "hunter2\n  bob: {password: hunter2}\n"));
}
