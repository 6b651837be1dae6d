// COPY through libpq for tests, streamed: data in from a source of chunks, data out to a
// sink, so that a test of 50 MB holds none of it. Throws PgError when the server refuses.
#pragma once

#include <libpq-fe.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace harness {

// Runs `sql` (a COPY ... FROM STDIN) and sends what `next_chunk` returns until it returns
// an empty chunk.
void copy_in(PGconn* conn, const std::string& sql, const std::function<std::string_view()>& next_chunk);

// Runs `sql` (a COPY ... TO STDOUT) and hands each row's bytes to `sink`.
void copy_out(PGconn* conn, const std::string& sql, const std::function<void(const char*, std::size_t)>& sink);

}  // namespace harness
