// Which auth method applies to a login (access rules, then user, database, top level), the
// refusals that need no exchange, the auth_query text, and the bounded failure counter.
#include <catch2/catch.hpp>

#include "config/loader.hpp"
#include "proxy/auth/auth_query.hpp"
#include "proxy/auth/login_failures.hpp"
#include "proxy/auth/client_auth.hpp"

using namespace pgsluice;
using proxy::ClientLogin;

namespace {

config::Config load(const std::string& yaml) {
    auto result = config::load_config(yaml, "t.yaml", config::SecretResolver{});
    std::string all;
    for (const auto& d : result.diagnostics) all += d.format() + "\n";
    INFO(all);
    REQUIRE(result.ok());
    return *result.config;
}

ClientLogin login(const std::string& user, const std::string& database = "app", const std::string& address = "127.0.0.1",
                  bool tls = false) {
    ClientLogin out;
    out.user = user;
    out.database = database;
    out.address = address == "unix" ? config::ClientAddress::unix_socket() : *config::ClientAddress::parse(address);
    out.tls = tls;
    return out;
}

proxy::AuthMethodDecision decide(const config::Config& config, const ClientLogin& who) {
    return proxy::decide_auth_method(config, config::AccessRules(config.hba), who);
}

}  // namespace

TEST_CASE("auth_type: the user's overrides the database's, which overrides the top level's", "[proxy][auth]") {
    const auto config = load("auth_type: md5\n"
                             "databases:\n  app: {auth_type: scram-sha-256}\n  other: {}\n"
                             "users:\n  alice: {password: a, auth_type: trust}\n  bob: {password: b}\n");
    CHECK(decide(config, login("alice")).method == config::AuthType::trust);
    CHECK(decide(config, login("bob")).method == config::AuthType::scram_sha_256);
    CHECK(decide(config, login("bob", "other")).method == config::AuthType::md5);
    CHECK(decide(config, login("unlisted", "other")).method == config::AuthType::md5);
}

TEST_CASE("with access rules, the matching rule's method wins over auth_type", "[proxy][auth]") {
    const auto config = load("hba:\n"
                             "  - {type: hostssl, database: all, user: all, address: all, method: scram-sha-256}\n"
                             "  - {type: host, database: all, user: all, address: 10.0.0.0/8, method: md5}\n"
                             "databases:\n  app: {}\n"
                             "users:\n  alice: {password: a, auth_type: trust}\n");
    CHECK(decide(config, login("alice", "app", "10.1.1.1", true)).method == config::AuthType::scram_sha_256);
    CHECK(decide(config, login("alice", "app", "10.1.1.1", false)).method == config::AuthType::md5);
    auto none = decide(config, login("alice", "app", "192.168.0.1", false));
    CHECK_FALSE(none.method);
    CHECK(none.refusal ==
          "no access rule allows user \"alice\" to connect to database \"app\" from 192.168.0.1 without TLS");
    CHECK(decide(config, login("alice", "app", "unix")).refusal.find("from a Unix socket") != std::string::npos);
}

TEST_CASE("reject, plain without TLS and cert without TLS are refused before any exchange", "[proxy][auth]") {
    const auto config = load("databases:\n  app: {}\n"
                             "users:\n  r: {auth_type: reject}\n  p: {password: x, auth_type: plain}\n");
    CHECK_FALSE(decide(config, login("r")).method);
    CHECK(decide(config, login("r")).refusal.find("reject") != std::string::npos);
    CHECK_FALSE(decide(config, login("p")).method);
    CHECK(decide(config, login("p")).refusal == "password authentication in clear text needs a TLS connection");
    CHECK(decide(config, login("p", "app", "127.0.0.1", true)).method == config::AuthType::plain);
    const auto allowed = load("allow_plain_without_tls: true\ndatabases:\n  app: {}\n"
                              "users:\n  p: {password: x, auth_type: plain}\n");
    CHECK(decide(allowed, login("p")).method == config::AuthType::plain);
}

TEST_CASE("auth_query runs under a fixed search_path with the name as a quoted literal", "[proxy][auth]") {
    CHECK(proxy::auth_query_sql(config::kDefaultAuthQuery, "alice") ==
          "SET search_path = pg_catalog, pg_temp; SET standard_conforming_strings = on; "
          "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename='alice'");
    const auto evil = proxy::auth_query_sql("SELECT u, p FROM t WHERE u=$1", "x' OR '1'='1");
    CHECK(evil.ends_with("WHERE u='x'' OR ''1''=''1'"));
    CHECK(proxy::auth_query_sql("SELECT $1, $10", "a").ends_with("SELECT 'a', $10"));
    CHECK(proxy::auth_query_sql("SELECT 1 WHERE $1 = $1", "b").ends_with("WHERE 'b' = 'b'"));
}

TEST_CASE("login failures keep a bounded number of user labels", "[proxy][auth]") {
    proxy::LoginFailures failures;
    failures.record("alice", true);
    failures.record("alice", true);
    failures.record("guess1", false);
    failures.record("guess2", false);
    auto counts = failures.counts();
    CHECK(counts["alice"] == 2);
    CHECK(counts[proxy::LoginFailures::kUnknownUser] == 2);
    CHECK(counts.size() == 2);
    for (std::size_t i = 0; i < proxy::LoginFailures::kMaxUsers + 50; ++i) failures.record("user" + std::to_string(i), true);
    CHECK(failures.counts().size() <= proxy::LoginFailures::kMaxUsers + 1);
}
