// Metric families built per scrape, and the three HTTP paths on prometheus-cpp's Exposer.
#include "proxy/observe/metrics.hpp"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>

#include "proxy/observe/process_stats.hpp"
#include "proxy/runtime/proxy_context.hpp"

namespace pgsluice::proxy {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// civetweb's begin_request callback gets no pointer of ours (CivetServer keeps its user
// data for itself), so the one readiness flag is process-wide; there is one daemon per process.
std::atomic<bool> g_ready{false};
// What /healthz asks (set_health_check): "" when healthy, else why not. Swapped whole,
// read by civetweb's threads.
std::shared_ptr<const std::function<std::string()>> g_health_check;

constexpr char kHealthzPath[] = "/healthz";
constexpr char kReadyPath[] = "/ready";

int answer_text(mg_connection* conn, int status, const char* body) {
    const auto length = std::strlen(body);
    if (status == 200) {
        mg_send_http_ok(conn, "text/plain; charset=utf-8", static_cast<long long>(length));
        mg_write(conn, body, length);
    } else {
        mg_send_http_error(conn, status, "%s", body);
    }
    return status;
}

// Runs on civetweb's threads before its own routing: /healthz and /ready are answered here,
// everything else (/metrics, and 404s) goes on to the Exposer.
int begin_request(mg_connection* conn) {
    const auto* request = mg_get_request_info(conn);
    const char* uri = request && request->local_uri ? request->local_uri : "";
    if (std::strcmp(uri, kHealthzPath) == 0) {
        const auto check = std::atomic_load(&g_health_check);
        const auto problem = check ? (*check)() : std::string();
        if (problem.empty()) return answer_text(conn, 200, "ok\n");
        return answer_text(conn, 503, ("unhealthy: " + problem + "\n").c_str());
    }
    if (std::strcmp(uri, kReadyPath) == 0)
        return g_ready.load() ? answer_text(conn, 200, "ready\n") : answer_text(conn, 503, "not ready\n");
    return 0;
}

int log_message(const mg_connection*, const char* message) {
    spdlog::warn("metrics http: {}", message);
    return 1;
}

void add_sample(MetricFamily& family, double value, Labels labels = {}) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family.type == MetricType::Counter)
        metric.counter.value = value;
    else
        metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
}

MetricFamily single(const char* name, const char* help, MetricType type, double value, Labels labels = {}) {
    MetricFamily family{name, help, type, {}};
    add_sample(family, value, std::move(labels));
    return family;
}

// Counts are taken under one lock and add up, but a gauge must never wrap below zero.
double minus(std::uint32_t a, std::uint32_t b) { return a > b ? double(a - b) : 0.0; }

double seconds_from_us(std::uint64_t us) { return static_cast<double>(us) / 1e6; }
double load(const PoolStats::Counter& counter) { return static_cast<double>(counter.load(std::memory_order_relaxed)); }

// One pool as seen at this scrape.
struct PoolSample {
    std::shared_ptr<Pool> pool;
    Pool::Counts counts;
    Labels labels;
    double in_use() const { return minus(counts.open, counts.idle); }  // held by clients or connecting for one
};

}  // namespace

class Metrics::Collector : public prometheus::Collectable {
public:
    explicit Collector(ProxyContext& context) : context_(context) {}

    std::vector<MetricFamily> Collect() const override {
        std::vector<PoolSample> pools;
        for (auto& pool : context_.pools()) {
            auto counts = pool->counts();
            Labels labels{{"database", pool->database()}, {"user", pool->user()}};
            pools.push_back({std::move(pool), counts, std::move(labels)});
        }
        std::vector<MetricFamily> out;
        collect_pool_gauges(pools, out);
        collect_pool_counters(pools, out);
        collect_databases(pools, out);
        collect_config(out);
        collect_login_failures(out);
        collect_workers(out);
        collect_process(out);
        return out;
    }

private:
    template <class Value>
    static void per_pool(std::vector<MetricFamily>& out, const std::vector<PoolSample>& pools, const char* name,
                         const char* help, MetricType type, Value value) {
        MetricFamily family{name, help, type, {}};
        for (const auto& sample : pools) add_sample(family, value(sample), sample.labels);
        out.push_back(std::move(family));
    }

    static void collect_pool_gauges(const std::vector<PoolSample>& pools, std::vector<MetricFamily>& out) {
        const auto gauge = MetricType::Gauge;
        per_pool(out, pools, "pgsluice_pool_clients_active", "Logged-in clients of the pool not waiting for a server",
                 gauge, [](const PoolSample& p) {
                     const auto clients = p.pool->stats().clients.load(std::memory_order_relaxed);
                     return static_cast<double>(std::max<std::int64_t>(0, clients - p.counts.waiting));
                 });
        per_pool(out, pools, "pgsluice_pool_clients_waiting", "Clients waiting for a server connection", gauge,
                 [](const PoolSample& p) { return double(p.counts.waiting); });
        per_pool(out, pools, "pgsluice_pool_servers_active", "Server connections held by a client", gauge,
                 [](const PoolSample& p) { return minus(p.counts.open, p.counts.idle + p.counts.connecting); });
        per_pool(out, pools, "pgsluice_pool_servers_idle", "Idle server connections ready for the next client", gauge,
                 [](const PoolSample& p) { return minus(p.counts.idle, p.counts.idle_unchecked); });
        per_pool(out, pools, "pgsluice_pool_servers_used",
                 "Idle server connections past server_check_delay, checked before reuse", gauge,
                 [](const PoolSample& p) { return double(p.counts.idle_unchecked); });
        per_pool(out, pools, "pgsluice_pool_servers_connecting", "Server connections being opened", gauge,
                 [](const PoolSample& p) { return double(p.counts.connecting); });
        per_pool(out, pools, "pgsluice_pool_size", "Configured pool_size", gauge,
                 [](const PoolSample& p) { return double(p.pool->settings().pool_size); });
        per_pool(out, pools, "pgsluice_pool_saturation",
                 "Server connections in use (held or connecting) divided by pool_size; 1 means clients queue",
                 gauge, [](const PoolSample& p) {
                     const auto size = p.pool->settings().pool_size;
                     return size == 0 ? 0.0 : p.in_use() / double(size);
                 });
        per_pool(out, pools, "pgsluice_pool_max_wait_seconds", "How long the longest-waiting client has waited so far",
                 gauge, [](const PoolSample& p) { return double(p.counts.longest_wait.count()) / 1e6; });
    }

    void collect_pool_counters(const std::vector<PoolSample>& pools, std::vector<MetricFamily>& out) const {
        const auto counter = MetricType::Counter;
        per_pool(out, pools, "pgsluice_transactions_total", "Transactions (and statements outside one) completed",
                 counter, [](const PoolSample& p) { return load(p.pool->stats().transactions); });
        per_pool(out, pools, "pgsluice_queries_total", "Queries: simple Query messages and extended-protocol Syncs",
                 counter, [](const PoolSample& p) { return load(p.pool->stats().queries); });
        per_pool(out, pools, "pgsluice_transaction_seconds_total", "Time spent in transactions", counter,
                 [](const PoolSample& p) { return seconds_from_us(p.pool->stats().transaction_time_us.load()); });
        per_pool(out, pools, "pgsluice_query_seconds_total", "Time spent in queries", counter,
                 [](const PoolSample& p) { return seconds_from_us(p.pool->stats().query_time_us.load()); });
        per_pool(out, pools, "pgsluice_client_bytes_received_total", "Bytes received from clients", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().bytes_received); });
        per_pool(out, pools, "pgsluice_client_bytes_sent_total", "Bytes sent to clients", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().bytes_sent); });
        per_pool(out, pools, "pgsluice_wait_seconds_total", "Time clients spent waiting for a server connection",
                 counter, [](const PoolSample& p) { return seconds_from_us(p.pool->stats().wait_time_us.load()); });
        per_pool(out, pools, "pgsluice_client_logins_total", "Successful client logins", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().client_logins); });
        per_pool(out, pools, "pgsluice_server_connects_total", "Server connections opened", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().server_connects); });
        per_pool(out, pools, "pgsluice_server_settings_restores_total",
                 "Servers whose session settings a client changed untracked (SET in a transaction, DISCARD ALL), "
                 "restored before their next client",
                 counter, [](const PoolSample& p) { return load(p.pool->stats().settings_restores); });

        per_pool(out, pools, "pgsluice_prepared_statement_parses_total",
                 "Parses of named prepared statements pgsluice sent to servers (transaction and statement mode)",
                 counter, [](const PoolSample& p) { return load(p.pool->stats().prepared_parses); });
        per_pool(out, pools, "pgsluice_prepared_statement_hits_total",
                 "Client uses of a named prepared statement its server already had", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().prepared_hits); });
        per_pool(out, pools, "pgsluice_prepared_statement_misses_total",
                 "Client uses of a named prepared statement its server had to prepare first", counter,
                 [](const PoolSample& p) { return load(p.pool->stats().prepared_misses); });

        MetricFamily errors{"pgsluice_errors_total", "Errors by kind; database and user are empty for clients that reached no pool",
                            counter, {}};
        auto add_errors = [&errors](const PoolStats& stats, const Labels& labels) {
            const std::pair<const char*, const PoolStats::Counter*> kinds[] = {
                {"login_failed", &stats.login_failures},
                {"wait_timeout", &stats.wait_timeouts},
                {"server_connect_failed", &stats.server_connect_failures},
                {"server_lost", &stats.servers_lost},
                {"client_timeout", &stats.client_timeouts},
            };
            for (const auto& [kind, value] : kinds) {
                auto with_kind = labels;
                with_kind.push_back({"kind", kind});
                add_sample(errors, load(*value), std::move(with_kind));
            }
        };
        for (const auto& sample : pools) add_errors(sample.pool->stats(), sample.labels);
        add_errors(context_.unrouted_stats(), {{"database", ""}, {"user", ""}});
        out.push_back(std::move(errors));
    }

    void collect_databases(const std::vector<PoolSample>& pools, std::vector<MetricFamily>& out) const {
        const auto snapshot = context_.snapshot();
        std::map<std::string, double> open;
        for (const auto& [name, database] : snapshot->config->databases) open[name] = 0;
        for (const auto& sample : pools) open[sample.pool->database()] += sample.counts.open;
        MetricFamily connections{"pgsluice_database_server_connections",
                                 "Server connections open to the database, across its pools", MetricType::Gauge, {}};
        for (const auto& [name, count] : open) add_sample(connections, count, {{"database", name}});
        out.push_back(std::move(connections));
        MetricFamily limit{"pgsluice_database_max_connections", "Configured max_db_connections (0: no cap)",
                           MetricType::Gauge, {}};
        for (const auto& [name, database] : snapshot->config->databases)
            add_sample(limit, database.pool.max_db_connections, {{"database", name}});
        out.push_back(std::move(limit));
    }

    // Per user, with one shared label value for unknown names (LoginFailures bounds them).
    void collect_login_failures(std::vector<MetricFamily>& out) const {
        MetricFamily family{"pgsluice_client_login_failures_total",
                            "Client logins refused or failed, by user name (unknown names share one value)",
                            MetricType::Counter, {}};
        for (const auto& [user, count] : context_.login_failures().counts())
            add_sample(family, static_cast<double>(count), {{"user", user}});
        out.push_back(std::move(family));
    }

    void collect_config(std::vector<MetricFamily>& out) const {
        const auto snapshot = context_.snapshot();
        out.push_back(single("pgsluice_config_info", "The loaded config; hash is a SHA-256 prefix of the file",
                             MetricType::Gauge, 1, {{"hash", snapshot->config->hash}}));
        MetricFamily reloads{"pgsluice_config_reloads_total", "Config reload attempts by result", MetricType::Counter, {}};
        add_sample(reloads, double(context_.reloads_ok.load(std::memory_order_relaxed)), {{"result", "success"}});
        add_sample(reloads, double(context_.reloads_failed.load(std::memory_order_relaxed)), {{"result", "failure"}});
        out.push_back(std::move(reloads));
        // With the sum of pgsluice_worker_clients, what an alert on clients near the limit needs.
        out.push_back(single("pgsluice_max_client_connections", "Configured limits.max_client_conn", MetricType::Gauge,
                             double(snapshot->config->limits.max_client_conn)));
    }

    void collect_workers(std::vector<MetricFamily>& out) const {
        auto& workers = context_.workers();
        out.push_back(single("pgsluice_workers_serving",
                             "Worker threads that take clients now (the rest are idle until the load needs them)",
                             MetricType::Gauge, workers.serving()));
        MetricFamily clients{"pgsluice_worker_clients", "Client connections on each worker thread", MetricType::Gauge, {}};
        const auto counts = workers.sessions_per_worker();
        for (std::size_t i = 0; i < counts.size(); ++i)
            add_sample(clients, static_cast<double>(counts[i]), {{"worker", std::to_string(i)}});
        out.push_back(std::move(clients));
        out.push_back(single("pgsluice_worker_moves_total",
                             "Clients moved between worker threads while idle, as workers began or stopped taking clients",
                             MetricType::Counter, static_cast<double>(workers.moves())));
    }

    static void collect_process(std::vector<MetricFamily>& out) {
        const auto process = read_process_stats();
        out.push_back(single("process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge,
                             process.resident_memory_bytes));
        out.push_back(single("process_cpu_seconds_total", "User and system CPU time spent in seconds",
                             MetricType::Counter, process.cpu_seconds));
        out.push_back(single("process_open_fds", "Open file descriptors", MetricType::Gauge, process.open_fds));
        out.push_back(single("process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge,
                             process.max_fds));
        out.push_back(single("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds",
                             MetricType::Gauge, process.start_time_seconds));
    }

    ProxyContext& context_;
};

Metrics::Metrics(ProxyContext& context) : collector_(std::make_shared<Collector>(context)) {}

Metrics::~Metrics() {
    g_ready = false;
    exposer_.reset();  // stops the HTTP threads before the collector goes
    std::atomic_store(&g_health_check, std::shared_ptr<const std::function<std::string()>>());
}

void Metrics::listen(const std::string& address, std::uint16_t port) {
    // civetweb spells an IPv6 listening address in brackets.
    const auto host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
    const auto where = host + ":" + std::to_string(port);
    CivetCallbacks callbacks;
    callbacks.begin_request = begin_request;
    callbacks.log_message = log_message;
    try {
        // Two threads: a slow scrape does not block a health probe; a client that stalls
        // is dropped after 10 s.
        exposer_ = std::make_unique<prometheus::Exposer>(
            std::vector<std::string>{"listening_ports", where, "num_threads", "2", "request_timeout_ms", "10000"},
            &callbacks);
    } catch (const std::exception& e) {
        throw std::runtime_error("metrics: cannot listen on " + where + " (metrics.address, metrics.port): " + e.what());
    }
    exposer_->RegisterCollectable(collector_);
}

void Metrics::set_ready(bool ready) { g_ready = ready; }

void Metrics::set_health_check(std::function<std::string()> check) {
    std::atomic_store(&g_health_check, std::make_shared<const std::function<std::string()>>(std::move(check)));
}


}  // namespace pgsluice::proxy
