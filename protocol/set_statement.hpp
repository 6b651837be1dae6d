// Recognises the statements that change a session setting, from the text of a client's
// Query (or Parse): `SET [SESSION] name {TO|=} value[, ...]`, `SET name {TO|=} DEFAULT`,
// `RESET name`, `RESET ALL`, and the transaction-scoped ones (`SET LOCAL ...`,
// `SET TRANSACTION ...`) that end with their transaction. Only a single statement in the
// plain form is recognised; anything else (a second statement, a comment, `SET TIME ZONE`)
// is "not recognised", and the proxy falls back to the server's command tags.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsluice::protocol {

struct SetStatement {
    enum class Kind {
        set,          // SET [SESSION] name TO value: `value_sql` is the value as written
        reset,        // RESET name, or SET name TO DEFAULT
        reset_all,    // RESET ALL
        transaction,  // SET LOCAL ..., SET TRANSACTION ...: gone at the transaction's end
    };
    Kind kind = Kind::set;
    std::string name;       // as written, unquoted (PostgreSQL folds it to lower case)
    std::string value_sql;  // only for `set`: literals, numbers and words, comma-separated
};

// `text` is a Query's string (without its terminating NUL).
std::optional<SetStatement> parse_set_statement(std::string_view text);

}  // namespace pgsluice::protocol
