// What one scan decided to send on: the decided prefix of the read buffer, with edits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/forward/write_deadline.hpp"
#include "proxy/io/transport.hpp"

namespace pgsluice::proxy {

// Bytes `[0, decided)` of the buffer a scan looked at go on to the peer, except that each
// edit replaces `drop` bytes at `at` with `insert` (a message dropped, rewritten, or
// preceded by one pgsluice adds). Edits come in the order of `at` and do not overlap.
// Nearly every plan has no edit: it is then one range of the buffer, written with one call
// and no copy. A plan remembers how far it was written, so a write that found the socket
// full goes on from there, from the quick path's handler or from the coroutine forwarder.
class OutputPlan {
public:
    // A new plan for the first `decided` bytes of the buffer (the edits made since the last
    // plan was done stay: the scan that decided these bytes made them).
    void decide(std::size_t decided) { decided_ = decided; }
    // Drops `size` bytes at `at` and sends `bytes` in their place (either may be empty).
    void edit(std::size_t at, std::size_t size, std::string bytes) {
        edits_.push_back({at, size, std::move(bytes)});
    }
    bool has_edits() const { return !edits_.empty(); }

    // Something was decided and is not yet all written (also after a failed write: the
    // peer may then hold part of a message).
    bool pending() const { return decided_ > 0 || !edits_.empty(); }
    std::size_t decided() const { return decided_; }

    // Writes what `to` takes now: done when all of it went.
    Transport::Io write_now(Transport& to, const std::uint8_t* source);
    // Writes the rest, waiting as needed. Under a WriteDeadline (watch_writes), a peer that
    // takes nothing for client_write_timeout ends the write with asio::error::timed_out.
    awaitable<boost::system::error_code> write(Transport& to, const std::uint8_t* source);
    // The plan of the stream towards a client: its waits are watched by `deadline`.
    void watch_writes(WriteDeadline* deadline) { deadline_ = deadline; }
    // All written: ready for the next scan.
    void clear() {
        decided_ = 0;
        edits_.clear();
        piece_ = 0;
        offset_ = 0;
    }

private:
    struct Edit {
        std::size_t at;
        std::size_t drop;
        std::string insert;
    };
    struct Piece {
        const std::uint8_t* data;
        std::size_t size;
    };
    // Piece 2k is the source between edit k-1 and edit k; piece 2k+1 is edit k's insert.
    std::size_t pieces() const { return edits_.size() * 2 + 1; }
    Piece piece(std::size_t index, const std::uint8_t* source) const;

    std::size_t decided_ = 0;
    std::vector<Edit> edits_;
    std::size_t piece_ = 0;   // the piece being written
    std::size_t offset_ = 0;  // bytes of it already written
    WriteDeadline* deadline_ = nullptr;
};

}  // namespace pgsluice::proxy
