// The Prometheus endpoint. /metrics is built at scrape time from what the pools already
// keep (Pool::counts() under the pool's mutex, PoolStats' per-worker shards summed), so nothing is
// counted twice; /healthz and /ready answer on the same listener for load balancers and
// Kubernetes probes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace prometheus {
class Exposer;
}

namespace pgsluice::proxy {

class ProxyContext;

class Metrics {
public:
    // Collects without listening, too; reload counts come from ProxyContext::reloads_ok/failed.
    explicit Metrics(ProxyContext& context);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // Serves /metrics, /healthz and /ready on address:port (HTTP threads of its own, not
    // the io_context's). Throws std::runtime_error when it cannot listen.
    void listen(const std::string& address, std::uint16_t port);

    // /ready says 200 only while ready: the config is loaded and the listeners accept.
    // The daemon sets it once it accepts, and may clear it when a drain begins.
    void set_ready(bool ready);

    // /healthz says 503 with the check's text while it returns something ("" is healthy);
    // without a check it always says 200. Called on the HTTP threads: must not block.
    void set_health_check(std::function<std::string()> check);

    class Collector;

private:
    std::shared_ptr<Collector> collector_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace pgsluice::proxy
