// Typed reads from yaml-cpp nodes that never throw: each wrong type, range or unknown key
// becomes a Diagnostic at the node's file:line:col, and reading goes on so that one run of
// `pgsluice check` reports every mistake.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace pgsluice::config {

class YamlReader {
public:
    explicit YamlReader(std::string file) : file_(std::move(file)) {}

    Mark mark(const YAML::Node& node) const;
    void error(const YAML::Node& node, std::string message);
    void warning(const YAML::Node& node, std::string message);
    void error_at(Mark where, std::string message);

    bool is_map(const YAML::Node& node, const std::string& path);
    // Reports every key of `node` not in `allowed`, with a "did you mean" when one is close.
    void check_keys(const YAML::Node& node, const std::string& path, const std::vector<std::string>& allowed);

    std::optional<std::string> string(const YAML::Node& node, const std::string& path);
    std::optional<bool> boolean(const YAML::Node& node, const std::string& path);
    std::optional<std::uint64_t> whole_number(const YAML::Node& node, const std::string& path, std::uint64_t min,
                                              std::uint64_t max);
    // "500ms", "5s", "2m", "1h", or 0.
    std::optional<Duration> duration(const YAML::Node& node, const std::string& path);
    // One of `choices`, as written.
    std::optional<std::string> choice(const YAML::Node& node, const std::string& path,
                                      const std::vector<std::string>& choices);

    std::vector<Diagnostic> take_diagnostics();
    bool has_errors() const;

private:
    std::string file_;
    std::vector<Diagnostic> diagnostics_;
};

// The closest of `candidates` to `word` within edit distance 2, or empty.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace pgsluice::config
