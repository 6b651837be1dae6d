// Recognises the simple-Query texts that drop prepared statements, so a pooler that renames
// statements can keep its tables right: `DEALLOCATE [PREPARE] name`, `DEALLOCATE [PREPARE]
// ALL` and `DISCARD ALL` (any case, the name plain or "quoted", an optional semicolon and
// white space at the end). Anything else, a second statement or a comment included, is "not
// recognised": the text then goes to the server as written.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsluice::protocol {

struct DeallocateStatement {
    enum class Kind {
        deallocate,      // DEALLOCATE name: `name` as PostgreSQL sees it
        deallocate_all,  // DEALLOCATE ALL
        discard_all,     // DISCARD ALL: also resets the whole session
    };
    Kind kind = Kind::deallocate;
    std::string name;  // a plain identifier folded to lower case; a quoted one as written
};

std::optional<DeallocateStatement> parse_deallocate_statement(std::string_view text);

}  // namespace pgsluice::protocol
