// /proc/self/statm, /proc/self/stat, /proc/stat and /proc/self/fd, as the Go client reads them.
#include "proxy/observe/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pgsluice::proxy {

namespace {

std::string read_text(const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The fields of /proc/self/stat after the command name, which may itself hold spaces and
// parentheses: field 3 (state) is index 0.
std::vector<std::string> stat_fields() {
    const auto text = read_text("/proc/self/stat");
    const auto close = text.rfind(')');
    std::vector<std::string> fields;
    if (close == std::string::npos) return fields;
    std::istringstream in(text.substr(close + 1));
    for (std::string field; in >> field;) fields.push_back(field);
    return fields;
}

double boot_time_seconds() {
    std::istringstream in(read_text("/proc/stat"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
    return 0;
}

double count_open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return 0;
    const std::string own = std::to_string(::dirfd(dir));
    double count = 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.' || own == entry->d_name) continue;  // ".", "..", this listing's fd
        ++count;
    }
    ::closedir(dir);
    return count;
}

}  // namespace

ProcessStats read_process_stats() {
    ProcessStats stats;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    {
        std::istringstream statm(read_text("/proc/self/statm"));
        double size = 0, resident = 0;
        if (statm >> size >> resident) stats.resident_memory_bytes = resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
    }
    try {
        const auto fields = stat_fields();
        // Fields 14 utime, 15 stime, 22 starttime (clock ticks; starttime since boot).
        if (fields.size() > 19 && ticks > 0) {
            stats.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
            stats.start_time_seconds = boot_time_seconds() + std::stod(fields[19]) / ticks;
        }
    } catch (const std::exception&) {
        // A malformed /proc leaves the fields at 0.
    }
    stats.open_fds = count_open_fds();
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.max_fds = static_cast<double>(limit.rlim_cur);
    return stats;
}

}  // namespace pgsluice::proxy
