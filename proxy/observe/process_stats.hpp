// The process's own resource use, read from /proc/self at scrape time, for the standard
// process_* metrics every Prometheus client library exports.
#pragma once

namespace pgsluice::proxy {

struct ProcessStats {
    double resident_memory_bytes = 0;
    double cpu_seconds = 0;          // user + system
    double open_fds = 0;
    double max_fds = 0;              // the soft RLIMIT_NOFILE
    double start_time_seconds = 0;   // since the Unix epoch
};

// Fields that cannot be read stay 0: a metric scrape never fails over them.
ProcessStats read_process_stats();

}  // namespace pgsluice::proxy
