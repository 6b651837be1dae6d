// The metric names deploy/prometheus/alerts.yml and deploy/grafana/pgsluice.json use exist in
// a real scrape: the real binary in front of a real PostgreSQL, after a client logged in and
// ran a query (pool metrics exist once a pool does). A renamed metric fails here, not in
// production where the alert would silently never fire. Names of other exporters (up,
// postgres_exporter's pg_*) do not start with pgsluice_ or process_ and are not checked.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness/http.hpp"
#include "harness/pgsluice_process.hpp"
#include "harness/pq.hpp"
#include "harness/wait.hpp"

using namespace harness;

namespace {

std::string read_repo_file(const std::string& path) {
    std::ifstream in(std::string(PGSLUICE_SOURCE_DIR) + "/" + path);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::set<std::string> metric_names_in(const std::string& text) {
    static const std::regex name(R"(\b((pgsluice|process)_[a-z_]+)\b)");
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it)
        names.insert((*it)[1]);
    return names;
}

// The names with samples in an exposition: the token before '{' or ' ' on each sample line.
std::set<std::string> exposed(const std::string& exposition) {
    std::set<std::string> names;
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        names.insert(line.substr(0, line.find_first_of("{ ")));
    }
    return names;
}

}  // namespace

TEST_CASE("every metric the alert rules and the dashboard use is in a real scrape", "[integration][deploy]") {
    PostgresServer postgres;
    Pgsluice proxy(postgres, Pgsluice::with_metrics(Pgsluice::basic_config("transaction", 2)));
    Connection app(proxy.conninfo());
    REQUIRE(app.scalar("select 1") == "1");

    HttpResponse scrape;
    REQUIRE(wait_until([&] {
        scrape = http_get(proxy.metrics_port(), "/metrics");
        return scrape.status == 200;
    }));
    const auto available = exposed(scrape.body);
    for (const auto* file : {"deploy/prometheus/alerts.yml", "deploy/grafana/pgsluice.json"}) {
        const auto used = metric_names_in(read_repo_file(file));
        CHECK(used.size() > 5);
        for (const auto& name : used) {
            INFO(file << " uses " << name);
            CHECK(available.count(name) == 1);
        }
    }
}
