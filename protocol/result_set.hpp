// The messages a query's result is made of, for the answers pgsluice gives itself (the admin
// console): RowDescription, DataRow, CommandComplete, EmptyQueryResponse. Text format only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsluice::protocol {

namespace backend_result {
inline constexpr char kRowDescription = 'T';
inline constexpr char kDataRow = 'D';
inline constexpr char kEmptyQueryResponse = 'I';
}  // namespace backend_result

// Type OIDs from PostgreSQL's pg_type.dat, for the columns pgsluice describes.
namespace type_oid {
inline constexpr std::uint32_t kInt8 = 20;
inline constexpr std::uint32_t kText = 25;
}  // namespace type_oid

struct ColumnDescription {
    std::string name;
    std::uint32_t type_oid = type_oid::kText;
};

void append_row_description(std::string& out, const std::vector<ColumnDescription>& columns);
// A null value is sent as length -1 (SQL NULL).
void append_data_row(std::string& out, const std::vector<std::optional<std::string>>& values);
// `tag` as PostgreSQL writes it: "SHOW", "SELECT 3", ...
void append_command_complete(std::string& out, std::string_view tag);
void append_empty_query_response(std::string& out);

}  // namespace pgsluice::protocol
