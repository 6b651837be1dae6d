// What makes two prepared statements the same: their query text and parameter type OIDs
// (the name is the client's choice and means nothing across clients). Keys are interned:
// every client and server table holding the same statement shares one immutable copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgsluice::proxy::prepared {

struct StatementKey {
    std::string query;
    std::vector<std::uint32_t> parameter_types;
    std::size_t hash = 0;  // of both, computed once

    static std::size_t hash_of(std::string_view query, std::span<const std::uint32_t> parameter_types);
    bool equals(std::string_view other_query, std::span<const std::uint32_t> other_types) const;
    bool operator==(const StatementKey& other) const {
        return hash == other.hash && equals(other.query, other.parameter_types);
    }
    // Bytes this key costs, for the memory a client may hold.
    std::size_t footprint() const { return sizeof(*this) + query.size() + parameter_types.size() * 4; }
};

using StatementKeyRef = std::shared_ptr<const StatementKey>;

// Hash and equality by value, for maps keyed by StatementKeyRef.
struct StatementKeyRefHash {
    std::size_t operator()(const StatementKeyRef& key) const { return key->hash; }
};
struct StatementKeyRefEqual {
    bool operator()(const StatementKeyRef& a, const StatementKeyRef& b) const { return a == b || *a == *b; }
};

// Hands out one shared key per distinct statement: one per pool is enough (a server only
// meets its pool's clients), one for the whole process shares the most. Keys from two
// interners still compare equal by value. Thread-safe: clients of one pool live on
// different workers. Holds its keys weakly: a statement no client and no server holds any
// more is forgotten (swept when the table has doubled since the last sweep).
class StatementKeyInterner {
public:
    StatementKeyRef intern(std::string_view query, std::span<const std::uint32_t> parameter_types);
    std::size_t size() const;  // distinct keys remembered, dead ones included until a sweep

private:
    void sweep();
    mutable std::mutex mutex_;
    std::unordered_multimap<std::size_t, std::weak_ptr<const StatementKey>> keys_;
    std::size_t sweep_at_ = 64;
};

}  // namespace pgsluice::proxy::prepared
