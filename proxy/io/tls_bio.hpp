// OpenSSL's BIO for a TLS connection: writes go straight to the socket; reads come from an
// inbox, the ciphertext received and not read by OpenSSL yet.
//
// OpenSSL does not read the socket itself: the Transport fills the inbox, with a recv of its
// own or with Asio's read. Why: OpenSSL on a socket reads each record twice (its header,
// then its body), and finds out that the socket is empty by a read that fails; the wait
// that follows re-arms the descriptor with epoll_ctl. Filled by Asio's read, a drained
// socket costs nothing until its next readiness event (see proxy/io/asio_patch), and one
// recv takes whatever records have arrived. One BIO serves both directions: an idle TLS
// connection pays for no second one.
//
// OpenSSL asks its BIO for exactly what it needs next (a record's header, then its body), so
// the inbox is empty whenever OpenSSL wants more: it is always filled from its start. The
// buffer is held only while it has something in it or a read into it is pending; an idle
// TLS connection keeps none.
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

class TlsBio {
public:
    // Room for the largest TLS record (16 KB of data, its header and up to 256 bytes of
    // expansion): one read takes a whole record however large.
    static constexpr std::size_t kSize = 16 * 1024 + 5 + 256;

    // `fd`: the connection's socket, non-blocking, which OpenSSL's writes go to.
    explicit TlsBio(int fd) : fd_(fd) {}
    TlsBio(const TlsBio&) = delete;
    TlsBio& operator=(const TlsBio&) = delete;

    // The BIO, for SSL_set_bio (as both the read and the write BIO); it does not own this.
    BIO* make_bio();

    bool empty() const { return begin_ == end_; }
    // The peer closed (or the connection failed): once the inbox is empty, OpenSSL reads EOF.
    bool at_end() const { return at_end_; }
    void set_end() { at_end_ = true; }

    // Where the next read puts its bytes: after what the inbox holds (nothing, see above).
    asio::mutable_buffer space();
    void filled(std::size_t bytes) { end_ += bytes; }
    // The socket is closed: writes fail from now on, and no read into the buffer is pending.
    void forget_socket() {
        fd_ = -1;
        reading_ = false;
    }
    // A read into space() is pending: the buffer must stay.
    void set_reading(bool reading) { reading_ = reading; }
    // Gives the buffer back when it holds nothing and no read is pending.
    void release_if_idle();

private:
    static int bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read);
    static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written);
    static long bio_ctrl(BIO* bio, int command, long number, void* pointer);
    static int bio_create(BIO* bio);
    static BIO_METHOD* bio_method();

    int fd_;
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    bool at_end_ = false;
    bool reading_ = false;
};

}  // namespace pgsluice::proxy
