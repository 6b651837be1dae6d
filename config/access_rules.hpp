// Access rules (the config's `hba` list) as a pure matcher: given who connects, from where,
// to what, with TLS or not, which rule applies and so which auth method. First match wins;
// no match is a refusal, as in PostgreSQL's pg_hba.conf.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace pgsluice::config {

// Where a client connects from. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4.
struct ClientAddress {
    enum class Family { unix_socket, ipv4, ipv6 };
    Family family = Family::unix_socket;
    std::array<std::uint8_t, 16> bytes{};  // network order; the first 4 for IPv4

    static ClientAddress unix_socket() { return {}; }
    // "10.1.2.3", "::1", "::ffff:10.1.2.3"; nullopt when it is not an IP address.
    static std::optional<ClientAddress> parse(std::string_view text);
    // "10.1.2.3", "::1", or "a Unix socket" (for messages).
    std::string to_string() const;
};

// An address rule: "all", or an IP address with an optional /prefix length.
struct AddressRange {
    bool all = false;
    ClientAddress::Family family = ClientAddress::Family::ipv4;
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix_bits = 0;

    // nullopt when `text` is none of "all", "a.b.c.d[/n]", "x:y::z[/n]" (n within the family's size).
    static std::optional<AddressRange> parse(std::string_view text);
    bool contains(const ClientAddress& address) const;
};

struct AccessRequest {
    ClientAddress address;
    std::string_view database;
    std::string_view user;
    bool tls = false;
};

struct AccessDecision {
    std::optional<AuthType> method;  // nullopt: no rule matched, the connection is refused
    int rule = -1;                   // 0-based index of the matching rule, -1 when none
};

// The rules of one config, with their addresses parsed once.
class AccessRules {
public:
    explicit AccessRules(const std::vector<HbaRule>& rules);
    bool empty() const { return rules_.empty(); }
    AccessDecision match(const AccessRequest& request) const;

private:
    struct Compiled {
        HbaRule rule;
        std::optional<AddressRange> range;  // nullopt: unparseable (the loader refuses those), never matches
    };
    std::vector<Compiled> rules_;
};

}  // namespace pgsluice::config
