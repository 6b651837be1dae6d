// A first-in first-out queue that keeps its storage: a vector and the index of its head,
// back to the start whenever the queue empties.
//
// Why not std::deque: entries pass through one at a time (a simple Query is pushed, then
// answered), and a deque allocates a node for the next few entries and frees the last one as
// they do: a malloc and a free every few transactions. A vector whose front is only marked
// consumed allocates once.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace pgsluice::proxy::prepared {

template <class T>
class Fifo {
public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    T& front() { return items_[head_]; }
    const T& front() const { return items_[head_]; }
    // The `i`-th entry from the front.
    T& operator[](std::size_t i) { return items_[head_ + i]; }

    void push_back(T item) { items_.push_back(std::move(item)); }
    void pop_front() { erase_front(1); }
    // The first `n` entries go (what they own is freed now, not when the storage is reused).
    void erase_front(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) items_[head_ + i] = T();
        head_ += n;
        if (head_ == items_.size()) {
            clear();
        } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
            // A queue that never empties (a pipeline that keeps the server busy) would grow
            // without end: its consumed front goes once it is most of the vector.
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void clear() {
        items_.clear();  // the capacity stays
        head_ = 0;
    }

private:
    static constexpr std::size_t kCompactAfter = 64;
    std::vector<T> items_;
    std::size_t head_ = 0;
};

}  // namespace pgsluice::proxy::prepared
