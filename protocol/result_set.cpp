// Encoders for result_set.hpp, field by field as in the protocol docs ("Message Formats").
#include "protocol/result_set.hpp"

#include "protocol/messages.hpp"
#include "protocol/wire.hpp"

namespace pgsluice::protocol {

void append_row_description(std::string& out, const std::vector<ColumnDescription>& columns) {
    MessageWriter writer(out);
    writer.begin(backend_result::kRowDescription).u16(static_cast<std::uint16_t>(columns.size()));
    for (const auto& column : columns) {
        writer.cstring(column.name)
            .u32(0)   // not a table column
            .u16(0)   // so no attribute number
            .u32(column.type_oid)
            .u16(static_cast<std::uint16_t>(column.type_oid == type_oid::kInt8 ? 8 : 0xffff))  // typlen; -1: varlena
            .i32(-1)  // no type modifier
            .u16(0);  // text format
    }
    writer.finish();
}

void append_data_row(std::string& out, const std::vector<std::optional<std::string>>& values) {
    MessageWriter writer(out);
    writer.begin(backend_result::kDataRow).u16(static_cast<std::uint16_t>(values.size()));
    for (const auto& value : values) {
        if (!value) {
            writer.i32(-1);
            continue;
        }
        writer.u32(static_cast<std::uint32_t>(value->size())).raw(*value);
    }
    writer.finish();
}

void append_command_complete(std::string& out, std::string_view tag) {
    MessageWriter(out).begin(backend::kCommandComplete).cstring(tag).finish();
}

void append_empty_query_response(std::string& out) {
    MessageWriter(out).begin(backend_result::kEmptyQueryResponse).finish();
}

}  // namespace pgsluice::protocol
