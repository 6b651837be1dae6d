// One client's named prepared statements: the name the client gave each (its own namespace,
// as on a PostgreSQL session of its own) and the statement it stands for. The unnamed
// statement is never here: it is forwarded as it is and lasts only until the next Parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/prepared/statement_key.hpp"

namespace pgsluice::proxy::prepared {

class ClientStatements {
public:
    // `limit`: the pool's max_client_prepared_statements.
    explicit ClientStatements(std::size_t limit) : limit_(limit) {}

    enum class AddResult {
        added,
        // The name is taken: PostgreSQL answers 42P05 "prepared statement \"x\" already
        // exists" and so does pgsluice (ParseRefusal), whatever the text.
        duplicate,
        // The client holds `limit` statements already: 54000 (ParseRefusal).
        over_limit,
    };
    // A new name is *tentative* until the server's (or pgsluice's) ParseComplete for it
    // reaches the client (confirm): a Parse skipped after an error is undone.
    AddResult add(std::string_view name, StatementKeyRef key, bool confirmed = false);
    void confirm(std::string_view name);

    struct Statement {
        StatementKeyRef key;
        bool confirmed = false;
    };
    // The statement a name stands for; nullptr when the client has none by that name.
    const Statement* find(std::string_view name) const;
    // Close / DEALLOCATE name. The statement it held, or nullptr when there was none (not
    // an error: PostgreSQL's Close of a missing statement succeeds too).
    StatementKeyRef remove(std::string_view name);
    // DEALLOCATE ALL, DISCARD ALL.
    void clear() { statements_.clear(); }

    std::size_t size() const { return statements_.size(); }
    std::size_t limit() const { return limit_; }
    void set_limit(std::size_t limit) { limit_ = limit; }  // a reload changed the setting

private:
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
    };
    std::unordered_map<std::string, Statement, NameHash, std::equal_to<>> statements_;
    std::size_t limit_;
};

}  // namespace pgsluice::proxy::prepared
