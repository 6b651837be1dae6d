#include "proxy/forward/output_plan.hpp"

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

awaitable<boost::system::error_code> OutputPlan::write(Transport& to, const std::uint8_t* source) {
    for (; piece_ < pieces(); ++piece_, offset_ = 0) {
        const auto [data, size] = piece(piece_, source);
        if (offset_ >= size) continue;
        if (auto ec = co_await to.write(asio::buffer(data + offset_, size - offset_))) co_return ec;
        offset_ = size;
    }
    co_return boost::system::error_code{};
}

}  // namespace pgsluice::proxy
