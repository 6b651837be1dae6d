// The admin console's SHOW tables, built from snapshots of the pools, the client registry
// and the config. Column names and order follow PgBouncer's where the concept is the same,
// so runbooks and pgbouncer_exporter keep working. Secrets never appear.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/result_set.hpp"
#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

struct ResultTable {
    std::vector<protocol::ColumnDescription> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
    // RowDescription, the DataRows, CommandComplete "SHOW".
    void append_to(std::string& out) const;
};

ResultTable show_pools(ProxyContext& context);
ResultTable show_stats(ProxyContext& context);           // totals and averages
ResultTable show_stats_totals(ProxyContext& context);
ResultTable show_stats_averages(ProxyContext& context);
ResultTable show_clients(ProxyContext& context);
ResultTable show_servers(ProxyContext& context);
ResultTable show_databases(ProxyContext& context);
ResultTable show_users(ProxyContext& context);
ResultTable show_config(ProxyContext& context);
ResultTable show_lists(ProxyContext& context);
ResultTable show_version();

}  // namespace pgsluice::proxy
