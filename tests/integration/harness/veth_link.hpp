// A network link a test can cut: a network namespace of its own joined to the host by a
// veth pair with two private addresses. Loopback and every other test stay untouched: only
// this pair's traffic is dropped. Needs root and `ip`; `unavailable()` says why not.
#pragma once

#include <optional>
#include <string>

namespace harness {

class VethLink {
public:
    // Why a VethLink cannot be made here (not root, no `ip`, no netns support), or nullopt.
    static std::optional<std::string> unavailable();

    VethLink();  // throws std::runtime_error when a step fails
    ~VethLink();
    VethLink(const VethLink&) = delete;
    VethLink& operator=(const VethLink&) = delete;

    const std::string& netns() const { return netns_; }
    const std::string& inside_address() const { return inside_address_; }  // in the namespace

    // Every packet on the link is dropped from now on, as when a cable or a switch dies far
    // away: neither end gets a reset or a route error, their packets just vanish.
    void cut();
    void restore();

private:
    std::string netns_;
    std::string host_interface_;
    std::string inside_interface_;
    std::string inside_address_;
    bool netem_ = false;  // cut with tc netem (100% loss); else the far end goes down
};

// While alive, the calling thread is in the network namespace `name`; a process it forks
// starts there. Restores the thread's own namespace when destroyed.
class EnterNetns {
public:
    explicit EnterNetns(const std::string& name);
    ~EnterNetns();
    EnterNetns(const EnterNetns&) = delete;
    EnterNetns& operator=(const EnterNetns&) = delete;

private:
    int own_ = -1;
};

}  // namespace harness
