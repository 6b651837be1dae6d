// A tiny HTTP/1.0 GET over a loopback socket, enough to scrape the metrics endpoint without
// a client library; plus reading one sample out of the Prometheus text exposition.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace harness {

struct HttpResponse {
    int status = 0;  // 0: no connection or no valid reply
    std::string body;
};

// GET http://127.0.0.1:port/path, bounded by `timeout` for the whole exchange.
HttpResponse http_get(int port, const std::string& path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The sum of the samples of `name` whose labels include every `name="value"` in `labels`;
// nullopt when none matches. E.g. sample(text, "pgsluice_errors_total", {"kind=\"login_failed\""}).
std::optional<double> sample(const std::string& exposition, const std::string& name,
                             const std::vector<std::string>& labels = {});

}  // namespace harness
