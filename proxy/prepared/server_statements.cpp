// One server's statement table with its LRU order.
#include "proxy/prepared/server_statements.hpp"

#include <utility>

namespace pgsluice::proxy::prepared {

const ServerStatements::Entry* ServerStatements::lookup(const StatementKeyRef& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
}

ServerStatements::Added ServerStatements::add(const StatementKeyRef& key, std::uint64_t segment) {
    Added added{nullptr, {}};
    ++parses_sent_;
    while (entries_.size() >= capacity_) {
        auto victim = std::prev(lru_.end());
        added.evicted.push_back(victim->name);
        erase(victim);
    }
    lru_.push_front(Entry{key, "pgsluice_" + std::to_string(next_number_++), false, 1, segment});
    entries_.emplace(key, lru_.begin());
    by_name_.emplace(lru_.front().name, lru_.begin());
    added.entry = &lru_.front();
    return added;
}

void ServerStatements::resend(const StatementKeyRef& key, std::uint64_t segment) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    ++parses_sent_;
    ++it->second->parses_in_flight;
    it->second->sent_in_segment = segment;
}

ServerStatements::Lru::iterator ServerStatements::find_name(std::string_view name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? lru_.end() : it->second;
}

void ServerStatements::confirm(std::string_view name) {
    auto it = find_name(name);
    if (it == lru_.end()) return;  // evicted while its Parse was on the way: its Close follows
    it->confirmed = true;
    if (it->parses_in_flight > 0) --it->parses_in_flight;
}

void ServerStatements::release(std::string_view name) {
    auto it = find_name(name);
    if (it == lru_.end()) return;
    if (it->parses_in_flight > 0) --it->parses_in_flight;
    if (!it->confirmed && it->parses_in_flight == 0) erase(it);
}

void ServerStatements::forget(std::string_view name) {
    auto it = find_name(name);
    if (it != lru_.end()) erase(it);
}

void ServerStatements::clear() {
    entries_.clear();
    by_name_.clear();
    lru_.clear();
    orphans_.clear();
}

void ServerStatements::erase(Lru::iterator it) {
    entries_.erase(it->key);
    by_name_.erase(it->name);
    lru_.erase(it);
}

}  // namespace pgsluice::proxy::prepared
