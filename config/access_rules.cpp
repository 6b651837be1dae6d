// The access rules matcher: addresses parsed with inet_pton (no sockets), compared by prefix.
#include "config/access_rules.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace pgsluice::config {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool name_matches(const std::string& rule, std::string_view value) { return rule == "all" || rule == value; }

bool type_matches(HbaRule::ConnectionType type, const AccessRequest& request) {
    const bool local = request.address.family == ClientAddress::Family::unix_socket;
    switch (type) {
        case HbaRule::ConnectionType::local: return local;
        case HbaRule::ConnectionType::host: return !local;
        case HbaRule::ConnectionType::hostssl: return !local && request.tls;
        case HbaRule::ConnectionType::hostnossl: return !local && !request.tls;
    }
    return false;
}

}  // namespace

std::optional<ClientAddress> ClientAddress::parse(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buffer[INET6_ADDRSTRLEN];
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    ClientAddress address;
    if (inet_pton(AF_INET, buffer, address.bytes.data()) == 1) {
        address.family = Family::ipv4;
        return address;
    }
    if (inet_pton(AF_INET6, buffer, address.bytes.data()) != 1) return std::nullopt;
    address.family = Family::ipv6;
    if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), address.bytes.begin())) {
        std::array<std::uint8_t, 16> v4{};
        std::copy(address.bytes.begin() + 12, address.bytes.end(), v4.begin());
        address.bytes = v4;
        address.family = Family::ipv4;
    }
    return address;
}

std::string ClientAddress::to_string() const {
    if (family == Family::unix_socket) return "a Unix socket";
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == Family::ipv4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
    return text;
}

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
    AddressRange range;
    if (text == "all") {
        range.all = true;
        return range;
    }
    const auto slash = text.find('/');
    auto address = ClientAddress::parse(text.substr(0, slash));
    if (!address) return std::nullopt;
    // "::ffff:10.0.0.0/104" is written for IPv6; keep its family as written.
    const bool written_v6 = text.substr(0, slash).find(':') != std::string_view::npos;
    const unsigned max_bits = written_v6 ? 128 : 32;
    unsigned bits = max_bits;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits > max_bits)
            return std::nullopt;
    }
    if (written_v6 && address->family == ClientAddress::Family::ipv4) {
        // A v4-mapped range: compare as IPv4 with the prefix past the 96 mapped bits.
        if (bits < 96) return std::nullopt;
        bits -= 96;
    }
    range.family = address->family;
    range.bytes = address->bytes;
    range.prefix_bits = bits;
    return range;
}

bool AddressRange::contains(const ClientAddress& address) const {
    if (all) return address.family != ClientAddress::Family::unix_socket;
    if (address.family != family) return false;
    unsigned bits = prefix_bits;
    for (std::size_t i = 0; bits > 0; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        const std::uint8_t mask = static_cast<std::uint8_t>(0xff00u >> take);
        if ((bytes[i] & mask) != (address.bytes[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

AccessRules::AccessRules(const std::vector<HbaRule>& rules) {
    rules_.reserve(rules.size());
    for (const auto& rule : rules) rules_.push_back({rule, AddressRange::parse(rule.address)});
}

AccessDecision AccessRules::match(const AccessRequest& request) const {
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        const auto& [rule, range] = rules_[i];
        if (!type_matches(rule.type, request)) continue;
        if (!name_matches(rule.database, request.database) || !name_matches(rule.user, request.user)) continue;
        // A local rule has no address to compare.
        if (rule.type != HbaRule::ConnectionType::local && (!range || !range->contains(request.address))) continue;
        return {rule.method, static_cast<int>(i)};
    }
    return {};
}

}  // namespace pgsluice::config
