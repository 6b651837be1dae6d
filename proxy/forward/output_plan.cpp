#include "proxy/forward/output_plan.hpp"

#include <utility>

namespace pgsluice::proxy {

OutputPlan::Piece OutputPlan::piece(std::size_t index, const std::uint8_t* source) const {
    const std::size_t edit = index / 2;
    if (index % 2 == 1) return {reinterpret_cast<const std::uint8_t*>(edits_[edit].insert.data()), edits_[edit].insert.size()};
    const std::size_t begin = edit == 0 ? 0 : edits_[edit - 1].at + edits_[edit - 1].drop;
    const std::size_t end = edit < edits_.size() ? edits_[edit].at : decided_;
    return {source + begin, end - begin};
}

Transport::Io OutputPlan::write_now(Transport& to, const std::uint8_t* source) {
    for (; piece_ < pieces(); ++piece_, offset_ = 0) {
        const auto [data, size] = piece(piece_, source);
        while (offset_ < size) {
            const auto written = to.write_now(data + offset_, size - offset_);
            if (written.status != Transport::Io::done) return written.status;
            offset_ += written.bytes;
        }
    }
    return Transport::Io::done;
}

// What write_now takes, then a wait for room, and again: every step that moves bytes is
// progress for the deadline, so a client that reads slowly but steadily is never cut.
awaitable<boost::system::error_code> OutputPlan::write(Transport& to, const std::uint8_t* source) {
    struct Unwatch {
        WriteDeadline* deadline;
        ~Unwatch() {
            if (deadline) deadline->done();
        }
    } unwatch{deadline_};
    while (true) {
        const auto before = std::pair{piece_, offset_};
        const auto status = write_now(to, source);
        if (status == Transport::Io::done) co_return boost::system::error_code{};
        if (deadline_ && std::pair{piece_, offset_} != before) deadline_->progressed();
        if (status == Transport::Io::closed) {
            // For the error itself (write_now keeps no errno): a write that fails at once.
            const auto [data, size] = piece(piece_, source);
            const auto rest = asio::buffer(data + offset_, size - offset_);
            const auto ec = co_await to.write(rest);
            if (ec) co_return ec;
            ++piece_;  // it went after all (a transient error): on with the next piece
            offset_ = 0;
            continue;
        }
        if (deadline_) deadline_->blocked(to);
        const auto ec = co_await to.wait_writable();
        if (deadline_ && deadline_->expired()) co_return boost::system::error_code(asio::error::timed_out);
        if (ec) co_return ec;
    }
}

}  // namespace pgsluice::proxy
