// Bytes read from a peer and not yet forwarded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "protocol/wire.hpp"

namespace pgsluice::proxy {

// At most an incomplete header or an incomplete inspected message is carried over to the
// next read: a 1 GB DataRow or COPY passes through a fixed buffer. The buffer grows only to
// hold a whole message a visitor inspects (small by nature: ReadyForQuery, ParameterStatus,
// a Parse) and is bounded by kMaxInspectedMessage.
class StreamBuffer {
public:
    static constexpr std::size_t kInitialSize = 16 * 1024;
    static constexpr std::size_t kMaxInspectedMessage = 1 << 20;

    std::uint8_t* free_space() { return data_.get() + filled_; }
    std::size_t free_size() const { return size_ - filled_; }
    protocol::Bytes filled() const { return {data_.get(), filled_}; }
    bool empty() const { return filled_ == 0; }
    void commit(std::size_t n) { filled_ += n; }
    // Drops the first `n` bytes (they were forwarded) and keeps the rest at the front.
    void consume(std::size_t n) {
        if (n < filled_) std::memmove(data_.get(), data_.get() + n, filled_ - n);
        filled_ -= n;
    }
    // Called when full but the scanner still needs more of one message. False past the bound.
    bool grow() {
        if (size_ >= kMaxInspectedMessage) return false;
        const auto size = std::min(size_ * 2, kMaxInspectedMessage);
        std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[size]);
        std::memcpy(bigger.get(), data_.get(), filled_);
        data_ = std::move(bigger);
        size_ = size;
        return true;
    }
    // Not zeroed: a buffer is taken for every transaction, and only filled bytes are read.
    void allocate() {
        if (!data_) {
            data_.reset(new std::uint8_t[kInitialSize]);
            size_ = kInitialSize;
        }
    }
    // Kept for another transaction only at its first size: one that grew for a big message
    // gives the memory back.
    void shrink_to_initial() {
        if (size_ > kInitialSize && filled_ == 0) {
            data_.reset();
            size_ = 0;
        }
    }

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
    std::size_t filled_ = 0;
};

}  // namespace pgsluice::proxy
