// spdlog configuration, and the log's flushing: stderr is fully buffered and written out
// every 100 ms, at once for a warning or worse, and at exit, so that a busy debug log costs
// one write(2) per batch instead of one per line.
#include "proxy/observe/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "proxy/observe/json_escape.hpp"
#include "proxy/observe/log_escape.hpp"

namespace pgsluice::proxy {

namespace {

// %* in a pattern: the message, escaped for a JSON string (names and SQL text may hold quotes).
class JsonMessage : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        std::string escaped;
        append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(escaped.data(), escaped.data() + escaped.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// %* in the text pattern: the message with its control characters escaped (log_escape.hpp).
class TextMessage : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        const std::string_view payload(msg.payload.data(), msg.payload.size());
        if (!needs_log_escape(payload)) {
            dest.append(payload.data(), payload.data() + payload.size());
            return;
        }
        std::string escaped;
        append_log_escaped(escaped, payload);
        dest.append(escaped.data(), escaped.data() + escaped.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextMessage>(); }
};

// Flushes the log every 100 ms from a thread of its own: short enough that someone tailing
// the log (or a test waiting for a line) sees it at once, long enough that a burst of lines
// goes out in one write. Stopped, with a last flush, when the process exits.
class PeriodicFlush {
public:
    static constexpr auto kEvery = std::chrono::milliseconds(100);
    explicit PeriodicFlush(std::shared_ptr<spdlog::logger> logger)
        : logger_(std::move(logger)), thread_([this] { run(); }) {}
    ~PeriodicFlush() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
        logger_->flush();
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, kEvery, [this] { return stopping_; })) logger_->flush();
    }
    const std::shared_ptr<spdlog::logger> logger_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
    auto logger = spdlog::stderr_logger_mt("pgsluice");
    if (format == "json") {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
        logger->set_formatter(std::move(formatter));
    } else {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<TextMessage>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %l %*");
        logger->set_formatter(std::move(formatter));
    }
    logger->set_level(spdlog::level::from_str(level));
    // stderr is unbuffered by default: one write(2) per line. Buffer it and flush it from
    // PeriodicFlush instead; a warning or worse goes out at once (it may precede a crash).
    static char buffer[64 * 1024];
    std::setvbuf(stderr, buffer, _IOFBF, sizeof buffer);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    static PeriodicFlush flusher(logger);  // destroyed at exit, after a last flush
}

}  // namespace pgsluice::proxy
