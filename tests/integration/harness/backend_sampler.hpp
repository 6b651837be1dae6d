// Watches PostgreSQL directly while a test runs: a thread counts the backends a query
// selects (pgsluice's server connections) every few milliseconds and keeps the largest count.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "harness/postgres_server.hpp"
#include "harness/pq.hpp"

namespace harness {

class BackendSampler {
public:
    // `where` filters pg_stat_activity's client backends, e.g. "usename = 'app'".
    BackendSampler(const PostgresServer& postgres, std::string where)
        : query_("select count(*) from pg_stat_activity where backend_type = 'client backend' and " + where),
          connection_(postgres.superuser_conninfo()) {
        thread_ = std::thread([this] {
            while (running_) {
                try {
                    const int now = std::stoi(connection_.scalar(query_));
                    if (now > most_) most_ = now;
                    ++samples_;
                } catch (const std::exception&) {
                    ++errors_;  // PostgreSQL restarting: the test decides whether that matters
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
    }
    BackendSampler(const BackendSampler&) = delete;
    BackendSampler& operator=(const BackendSampler&) = delete;
    ~BackendSampler() { stop(); }

    // Stops sampling; returns the largest count seen.
    int stop() {
        running_ = false;
        if (thread_.joinable()) thread_.join();
        return most_;
    }
    int most() const { return most_; }
    int samples() const { return samples_; }
    int errors() const { return errors_; }

private:
    std::string query_;
    Connection connection_;
    std::atomic<bool> running_{true};
    std::atomic<int> most_{0};
    std::atomic<int> samples_{0};
    std::atomic<int> errors_{0};
    std::thread thread_;
};

}  // namespace harness
