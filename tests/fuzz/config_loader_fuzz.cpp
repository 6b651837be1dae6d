// The config loader over any text: YAML parsing, the schema, validation, and the diff a
// reload would log against a known config. Properties: no crash, a refused config has at
// least one error and every diagnostic names a place, and a loaded config diffs against
// itself to nothing. {env: X} and {file: P} resolve without touching the process.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/diff.hpp"
#include "config/loader.hpp"
#include "fuzz_check.hpp"

using namespace pgsluice::config;

namespace {

SecretResolver fake_secrets() {
    SecretResolver resolver;
    resolver.env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "APP_PASSWORD") return "from-env";
        return std::nullopt;
    };
    resolver.file = [](const std::string& path) -> std::optional<std::string> {
        if (path == "/run/secrets/app") return "from-file";
        return std::nullopt;
    };
    return resolver;
}

const Config& base_config() {
    static const Config config = [] {
        auto result = load_config("databases:\n  app: {}\nusers:\n  app: {password: x}\n", "base.yaml", fake_secrets());
        FUZZ_CHECK(result.ok());
        return *result.config;
    }();
    return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    static const SecretResolver secrets = fake_secrets();
    auto result = load_config(text, "fuzz.yaml", secrets);
    bool has_error = false;
    for (const auto& diagnostic : result.diagnostics) {
        FUZZ_CHECK(!diagnostic.message.empty());
        FUZZ_CHECK(diagnostic.format().starts_with("fuzz.yaml:"));
        has_error = has_error || diagnostic.severity == Diagnostic::Severity::error;
    }
    FUZZ_CHECK(result.ok() != has_error);
    if (result.ok()) {
        FUZZ_CHECK(result.config->hash.size() == 16);
        FUZZ_CHECK(diff_configs(*result.config, *result.config).empty());
        for (const auto& change : diff_configs(base_config(), *result.config)) FUZZ_CHECK(!change.format().empty());
    }
    return 0;
}
