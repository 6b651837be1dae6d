// Typed, diagnosing reads from YAML nodes.
#include "config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>

namespace pgsluice::config {

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string describe(const YAML::Node& node) {
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a map";
    return "nothing";
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
    return out;
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = 3;
    for (const auto& candidate : candidates) {
        auto distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

Mark YamlReader::mark(const YAML::Node& node) const {
    auto m = node.Mark();
    return Mark{file_, m.line + 1, m.column + 1};
}

void YamlReader::error(const YAML::Node& node, std::string message) { error_at(mark(node), std::move(message)); }

void YamlReader::error_at(Mark where, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::error, std::move(where), std::move(message)});
}

void YamlReader::warning(const YAML::Node& node, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::warning, mark(node), std::move(message)});
}

bool YamlReader::is_map(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    error(node, path + " must be a map of keys to values, got " + describe(node));
    return false;
}

void YamlReader::check_keys(const YAML::Node& node, const std::string& path, const std::vector<std::string>& allowed) {
    for (auto it = node.begin(); it != node.end(); ++it) {
        const auto key = it->first.Scalar();
        if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
        std::string message = "unknown key '" + key + "' in " + path;
        if (auto suggestion = did_you_mean(key, allowed); !suggestion.empty())
            message += " (did you mean '" + suggestion + "'?)";
        error(it->first, message);
    }
}

std::optional<std::string> YamlReader::string(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
        error(node, path + " must be a string, got " + describe(node));
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) {
        const auto& text = node.Scalar();
        if (text == "true" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "no" || text == "off") return false;
    }
    error(node, path + " must be true or false, got " + describe(node));
    return std::nullopt;
}

std::optional<std::uint64_t> YamlReader::whole_number(const YAML::Node& node, const std::string& path,
                                                      std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    bool parsed = false;
    if (node.IsScalar()) {
        const auto& text = node.Scalar();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        parsed = ec == std::errc() && end == text.data() + text.size() && !text.empty();
    }
    if (!parsed) {
        error(node, path + " must be a whole number, got " + describe(node));
        return std::nullopt;
    }
    if (value < min || value > max) {
        error(node, path + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                        std::to_string(value));
        return std::nullopt;
    }
    return value;
}

std::optional<Duration> YamlReader::duration(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) {
        const auto& text = node.Scalar();
        std::uint64_t amount = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
        if (ec == std::errc() && end != text.data()) {
            const std::string unit(end, text.data() + text.size());
            if (unit.empty() && amount == 0) return Duration::zero();
            if (unit.empty()) {
                error(node, path + " needs a unit, e.g. " + text + "s or " + text + "ms");
                return std::nullopt;
            }
            if (amount <= 1'000'000'000) {
                if (unit == "ms") return Duration(amount);
                if (unit == "s") return std::chrono::seconds(amount);
                if (unit == "m" || unit == "min") return std::chrono::minutes(amount);
                if (unit == "h") return std::chrono::hours(amount);
            }
        }
    }
    error(node, path + " must be a duration such as 500ms, 5s, 2m or 1h (0 for off), got " + describe(node));
    return std::nullopt;
}

std::optional<std::string> YamlReader::choice(const YAML::Node& node, const std::string& path,
                                              const std::vector<std::string>& choices) {
    if (node.IsScalar() && std::find(choices.begin(), choices.end(), node.Scalar()) != choices.end())
        return node.Scalar();
    std::string message = path + " must be one of " + join(choices) + ", got " + describe(node);
    if (node.IsScalar())
        if (auto suggestion = did_you_mean(node.Scalar(), choices); !suggestion.empty())
            message += " (did you mean '" + suggestion + "'?)";
    error(node, message);
    return std::nullopt;
}

std::vector<Diagnostic> YamlReader::take_diagnostics() {
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    return std::move(diagnostics_);
}

bool YamlReader::has_errors() const {
    return std::any_of(diagnostics_.begin(), diagnostics_.end(),
                       [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

}  // namespace pgsluice::config
