// Whether a server connection may be handed to another client, judged only from the
// message types that crossed it. A server is reusable when every Query, FunctionCall and
// Sync it was sent has been answered by a ReadyForQuery, no extended-protocol batch is left
// open without its Sync, and the last ReadyForQuery said idle ('I'). Pure bookkeeping: the
// proxy feeds it every message header it forwards.
#pragma once

#include <cstdint>

namespace pgsluice::protocol {

class ServerState {
public:
    // A message pgsluice forwarded (or sent itself) to the server.
    void on_frontend_message(char type) {
        switch (type) {
            case 'Q':  // Query
            case 'F':  // FunctionCall
                ++awaiting_ready_;
                break;
            case 'S':  // Sync closes an extended-protocol batch
                ++awaiting_ready_;
                extended_batch_open_ = false;
                break;
            case 'P': case 'B': case 'E': case 'D': case 'C':  // Parse Bind Execute Describe Close
                extended_batch_open_ = true;
                break;
            default:  // CopyData, CopyDone, CopyFail, Flush: no ReadyForQuery of their own
                break;
        }
    }
    // A ReadyForQuery from the server with its transaction status.
    void on_ready_for_query(char status) {
        if (awaiting_ready_ > 0) --awaiting_ready_;
        transaction_status_ = status;
    }

    bool idle() const { return awaiting_ready_ == 0 && !extended_batch_open_ && transaction_status_ == 'I'; }
    char transaction_status() const { return transaction_status_; }
    std::uint32_t awaiting_ready() const { return awaiting_ready_; }

private:
    std::uint32_t awaiting_ready_ = 0;
    bool extended_batch_open_ = false;
    char transaction_status_ = 'I';
};

}  // namespace pgsluice::protocol
