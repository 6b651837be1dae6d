// Hashing and interning of statement keys.
#include "proxy/prepared/statement_key.hpp"

#include <algorithm>
#include <functional>

namespace pgsluice::proxy::prepared {

std::size_t StatementKey::hash_of(std::string_view query, std::span<const std::uint32_t> parameter_types) {
    std::size_t hash = std::hash<std::string_view>{}(query);
    for (auto oid : parameter_types) hash = hash * 1099511628211ull ^ (oid + 0x9e3779b97f4a7c15ull + (hash << 6));
    return hash ^ parameter_types.size();
}

bool StatementKey::equals(std::string_view other_query, std::span<const std::uint32_t> other_types) const {
    return query == other_query && std::equal(parameter_types.begin(), parameter_types.end(), other_types.begin(),
                                              other_types.end());
}

StatementKeyRef StatementKeyInterner::intern(std::string_view query, std::span<const std::uint32_t> parameter_types) {
    const auto hash = StatementKey::hash_of(query, parameter_types);
    std::lock_guard lock(mutex_);
    auto [first, last] = keys_.equal_range(hash);
    for (auto it = first; it != last; ++it)
        if (auto key = it->second.lock(); key && key->equals(query, parameter_types)) return key;
    auto key = std::make_shared<const StatementKey>(
        StatementKey{std::string(query), std::vector<std::uint32_t>(parameter_types.begin(), parameter_types.end()), hash});
    keys_.emplace(hash, key);
    if (keys_.size() >= sweep_at_) sweep();
    return key;
}

std::size_t StatementKeyInterner::size() const {
    std::lock_guard lock(mutex_);
    return keys_.size();
}

void StatementKeyInterner::sweep() {
    std::erase_if(keys_, [](const auto& entry) { return entry.second.expired(); });
    sweep_at_ = std::max<std::size_t>(64, keys_.size() * 2);
}

}  // namespace pgsluice::proxy::prepared
