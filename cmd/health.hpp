// `pgsluice health`: asks a running pgsluice's metrics listener for /healthz (or /ready), so
// a container HEALTHCHECK or a probe needs no curl in the image.
#pragma once

#include <chrono>
#include <string>

namespace pgsluice::cmd {

struct HealthProbe {
    std::string address = "127.0.0.1";  // 0.0.0.0 or :: (a listener on every address) means loopback
    unsigned port = 9632;
    std::string path = "/healthz";
    std::chrono::milliseconds timeout{3000};
};

// GETs the path; prints one line (the URL and the status, or why it failed) and returns the
// exit code: 0 for HTTP 200, 1 for anything else.
int check_health(const HealthProbe& probe);

}  // namespace pgsluice::cmd
