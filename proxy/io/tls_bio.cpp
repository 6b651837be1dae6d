// A TlsBio: OpenSSL's BIO over the inbox and the socket.
#include "proxy/io/tls_bio.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/io/bare_socket_calls.hpp"

namespace pgsluice::proxy {

BIO_METHOD* TlsBio::bio_method() {
    // Made once and kept for the process's life, as OpenSSL's own methods are.
    static BIO_METHOD* const method = [] {
        BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgsluice TLS");
        BIO_meth_set_read_ex(made, &TlsBio::bio_read);
        BIO_meth_set_write_ex(made, &TlsBio::bio_write);
        BIO_meth_set_ctrl(made, &TlsBio::bio_ctrl);
        BIO_meth_set_create(made, &TlsBio::bio_create);
        return made;
    }();
    return method;
}

BIO* TlsBio::make_bio() {
    BIO* bio = BIO_new(bio_method());
    if (bio) BIO_set_data(bio, this);
    return bio;
}

int TlsBio::bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

// Up to `size` bytes of what the inbox holds; when it holds nothing, "try again" (OpenSSL
// reports SSL_ERROR_WANT_READ), or EOF once the peer closed.
int TlsBio::bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read) {
    auto& inbox = *static_cast<TlsBio*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    *read = 0;
    if (inbox.empty()) {
        if (!inbox.at_end_) BIO_set_retry_read(bio);
        return 0;
    }
    const std::size_t n = std::min(size, inbox.end_ - inbox.begin_);
    std::memcpy(out, inbox.data_.get() + inbox.begin_, n);
    inbox.begin_ += n;
    *read = n;
    return 1;
}

// A send of what fits in the socket now; when nothing fits, "try again" (OpenSSL reports
// SSL_ERROR_WANT_WRITE). The Transport's own bare send.
int TlsBio::bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
    const auto& self = *static_cast<const TlsBio*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    *written = 0;
    const auto n = send_direct(self.fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
        *written = static_cast<std::size_t>(n);
        return 1;
    }
    if (n < 0 && (would_block() || errno == EINTR)) BIO_set_retry_write(bio);
    return 0;
}

long TlsBio::bio_ctrl(BIO* bio, int command, long, void*) {
    const auto& inbox = *static_cast<const TlsBio*>(BIO_get_data(bio));
    switch (command) {
        case BIO_CTRL_PENDING: return static_cast<long>(inbox.end_ - inbox.begin_);
        case BIO_CTRL_EOF: return inbox.empty() && inbox.at_end_ ? 1 : 0;
        case BIO_CTRL_FLUSH: return 1;
        default: return 0;  // nothing else applies: no descriptor to hand out, nothing buffered to write
    }
}

asio::mutable_buffer TlsBio::space() {
    if (!data_) data_ = std::make_unique_for_overwrite<std::uint8_t[]>(kSize);
    if (begin_ > 0) {  // (OpenSSL wants more only once the inbox is empty: this is for safety)
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    return asio::buffer(data_.get() + end_, kSize - end_);
}

void TlsBio::release_if_idle() {
    if (empty() && !reading_) data_.reset();
}

}  // namespace pgsluice::proxy
