// The access rules matcher: CIDR ranges for IPv4 and IPv6, "all", TLS-only and plain-only
// rules, local connections, and the first matching rule deciding.
#include <catch2/catch.hpp>

#include "config/access_rules.hpp"

using namespace pgsluice::config;

namespace {

using Type = HbaRule::ConnectionType;

HbaRule rule(Type type, std::string address, AuthType method, std::string database = "all", std::string user = "all") {
    HbaRule r;
    r.type = type;
    r.address = std::move(address);
    r.method = method;
    r.database = std::move(database);
    r.user = std::move(user);
    return r;
}

std::optional<AuthType> method_for(const std::vector<HbaRule>& rules, const std::string& address, bool tls = false,
                                   std::string_view database = "app", std::string_view user = "alice") {
    auto parsed = address == "unix" ? ClientAddress::unix_socket() : ClientAddress::parse(address).value();
    return AccessRules(rules).match({parsed, database, user, tls}).method;
}

}  // namespace

TEST_CASE("addresses and ranges parse for IPv4 and IPv6 only", "[config][access]") {
    CHECK(ClientAddress::parse("10.1.2.3"));
    CHECK(ClientAddress::parse("::1"));
    CHECK(ClientAddress::parse("::ffff:10.1.2.3")->family == ClientAddress::Family::ipv4);
    CHECK_FALSE(ClientAddress::parse("db.internal"));
    CHECK_FALSE(ClientAddress::parse(""));
    CHECK(AddressRange::parse("all"));
    CHECK(AddressRange::parse("10.0.0.0/8"));
    CHECK(AddressRange::parse("10.0.0.1"));
    CHECK(AddressRange::parse("fd00::/8"));
    CHECK(AddressRange::parse("::/0"));
    CHECK_FALSE(AddressRange::parse("10.0.0.0/33"));
    CHECK_FALSE(AddressRange::parse("fd00::/129"));
    CHECK_FALSE(AddressRange::parse("10.0.0.0/"));
    CHECK_FALSE(AddressRange::parse("10.0.0.0/8x"));
    CHECK_FALSE(AddressRange::parse("samehost"));
}

TEST_CASE("IPv4 CIDR ranges match by prefix", "[config][access]") {
    const std::vector<HbaRule> rules = {rule(Type::host, "10.0.0.0/8", AuthType::md5),
                                        rule(Type::host, "192.168.1.128/25", AuthType::plain),
                                        rule(Type::host, "172.16.0.7", AuthType::trust)};
    CHECK(method_for(rules, "10.255.1.2") == AuthType::md5);
    CHECK(method_for(rules, "11.0.0.1") == std::nullopt);
    CHECK(method_for(rules, "192.168.1.200") == AuthType::plain);
    CHECK(method_for(rules, "192.168.1.127") == std::nullopt);
    CHECK(method_for(rules, "172.16.0.7") == AuthType::trust);
    CHECK(method_for(rules, "172.16.0.8") == std::nullopt);
    // A v4-mapped IPv6 peer (a dual-stack listener) is its IPv4 address.
    CHECK(method_for(rules, "::ffff:10.9.9.9") == AuthType::md5);
}

TEST_CASE("IPv6 CIDR ranges match by prefix and never match IPv4", "[config][access]") {
    const std::vector<HbaRule> rules = {rule(Type::host, "fd00::/8", AuthType::md5),
                                        rule(Type::host, "2001:db8::/33", AuthType::plain),
                                        rule(Type::host, "::1/128", AuthType::trust)};
    CHECK(method_for(rules, "fd12:3456::1") == AuthType::md5);
    CHECK(method_for(rules, "fe80::1") == std::nullopt);
    CHECK(method_for(rules, "2001:db8:7fff::1") == AuthType::plain);
    CHECK(method_for(rules, "2001:db8:8000::1") == std::nullopt);
    CHECK(method_for(rules, "::1") == AuthType::trust);
    CHECK(method_for(rules, "127.0.0.1") == std::nullopt);
}

TEST_CASE("all matches every TCP address, never a Unix socket", "[config][access]") {
    const std::vector<HbaRule> rules = {rule(Type::host, "all", AuthType::md5)};
    CHECK(method_for(rules, "8.8.8.8") == AuthType::md5);
    CHECK(method_for(rules, "2001:db8::1") == AuthType::md5);
    CHECK(method_for(rules, "unix") == std::nullopt);
    const std::vector<HbaRule> local = {rule(Type::local, "all", AuthType::trust)};
    CHECK(method_for(local, "unix") == AuthType::trust);
    CHECK(method_for(local, "127.0.0.1") == std::nullopt);
}

TEST_CASE("hostssl matches only TLS connections, hostnossl only plain ones", "[config][access]") {
    const std::vector<HbaRule> rules = {rule(Type::hostssl, "all", AuthType::scram_sha_256),
                                        rule(Type::hostnossl, "all", AuthType::reject)};
    CHECK(method_for(rules, "10.0.0.1", true) == AuthType::scram_sha_256);
    CHECK(method_for(rules, "10.0.0.1", false) == AuthType::reject);
    const std::vector<HbaRule> ssl_only = {rule(Type::hostssl, "all", AuthType::md5)};
    CHECK(method_for(ssl_only, "10.0.0.1", false) == std::nullopt);
}

TEST_CASE("the first matching rule wins, by database and user", "[config][access]") {
    const std::vector<HbaRule> rules = {rule(Type::host, "all", AuthType::reject, "all", "mallory"),
                                        rule(Type::host, "10.0.0.0/8", AuthType::trust, "reports"),
                                        rule(Type::host, "all", AuthType::md5),
                                        rule(Type::host, "all", AuthType::trust)};
    CHECK(method_for(rules, "10.0.0.1", false, "app", "mallory") == AuthType::reject);
    CHECK(method_for(rules, "10.0.0.1", false, "reports", "alice") == AuthType::trust);
    CHECK(method_for(rules, "11.0.0.1", false, "reports", "alice") == AuthType::md5);
    CHECK(method_for(rules, "10.0.0.1", false, "app", "alice") == AuthType::md5);
    CHECK(AccessRules(rules).match({*ClientAddress::parse("10.0.0.1"), "app", "alice", false}).rule == 2);
}

TEST_CASE("no rules means no match", "[config][access]") {
    CHECK(AccessRules({}).empty());
    CHECK(method_for({}, "10.0.0.1") == std::nullopt);
}
