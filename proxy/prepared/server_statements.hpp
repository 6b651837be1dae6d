// The statements prepared on one server connection, under names pgsluice owns
// (`pgsluice_<n>`, never reused on that connection), most recently used first, at most
// max_prepared_statements of them. An entry exists from the moment pgsluice decides to send
// its Parse: it is *pending* until the server's ParseComplete confirms it (confirm) and is
// dropped when the server skipped or refused that Parse (release). Pending entries let the
// later messages of the same pipeline use the name without a second Parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/prepared/statement_key.hpp"

namespace pgsluice::proxy::prepared {

class ServerStatements {
public:
    // `capacity`: the pool's max_prepared_statements (at least 1 here: 0 means the feature
    // is off, and then no ServerStatements is made).
    explicit ServerStatements(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    struct Entry {
        StatementKeyRef key;
        std::string name;
        bool confirmed = false;        // the server answered ParseComplete
        unsigned parses_in_flight = 0;  // Parses sent and not answered yet
        std::uint64_t sent_in_segment = 0;  // ExpectedResponses::segment() of the latest Parse
    };

    // The entry for `key` (touching it as most recently used), or nullptr.
    const Entry* lookup(const StatementKeyRef& key);

    struct Added {
        const Entry* entry;
        // The least recently used statements pushed out to make room (more than one only
        // after a reload lowered the capacity): the caller sends their Closes before
        // anything else (the entries are already gone from the table).
        std::vector<std::string> evicted;
    };
    // A new pending entry under a fresh name; the caller sends its Parse now.
    Added add(const StatementKeyRef& key, std::uint64_t segment);
    // Another Parse of a pending entry (the earlier one may have been skipped: see
    // StatementRouter); the caller sends Close then Parse under the same name.
    void resend(const StatementKeyRef& key, std::uint64_t segment);

    // The server answered ParseComplete to a Parse under `name`.
    void confirm(std::string_view name);
    // The server skipped or refused a Parse under `name`: a pending entry with no other
    // Parse in flight is dropped.
    void release(std::string_view name);
    // The server no longer has `name` (a Close pgsluice sent for it).
    void forget(std::string_view name);
    // The server dropped everything: DISCARD ALL, DEALLOCATE ALL, a reset, a new connection.
    void clear();

    // A Close pgsluice sent for an evicted statement was skipped (an error earlier in its
    // pipeline): the statement may still be there. Closed again with the next request.
    void add_orphan(std::string name) { orphans_.push_back(std::move(name)); }
    std::vector<std::string> take_orphans() { return std::exchange(orphans_, {}); }
    std::size_t orphans() const { return orphans_.size(); }

    std::size_t size() const { return entries_.size(); }
    std::size_t capacity() const { return capacity_; }
    // A reload changed max_prepared_statements: a smaller capacity takes effect at the next add.
    void set_capacity(std::size_t capacity) { capacity_ = capacity == 0 ? 1 : capacity; }
    // For SHOW SERVERS and the metrics: lookups that found the statement or not, and the
    // Parses pgsluice sent this server (new statements and second tries).
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t parses_sent() const { return parses_sent_; }

private:
    using Lru = std::list<Entry>;  // front: most recently used
    Lru::iterator find_name(std::string_view name);
    void erase(Lru::iterator it);

    Lru lru_;
    std::unordered_map<StatementKeyRef, Lru::iterator, StatementKeyRefHash, StatementKeyRefEqual> entries_;
    std::unordered_map<std::string_view, Lru::iterator> by_name_;  // views into the entries' names
    std::vector<std::string> orphans_;
    std::size_t capacity_;
    std::uint64_t next_number_ = 1;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
    std::uint64_t parses_sent_ = 0;
};

}  // namespace pgsluice::proxy::prepared
