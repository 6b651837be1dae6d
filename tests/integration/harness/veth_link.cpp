// Network namespaces and veth pairs through `ip` and `tc`, for tests that cut the network.
#include "harness/veth_link.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

#include "harness/process.hpp"

namespace harness {

namespace {

int run(const std::vector<std::string>& argv) { return run_command({argv, "", "", {}}, 10000); }

void must(const std::vector<std::string>& argv) {
    if (run(argv) != 0) {
        std::string command;
        for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
        throw std::runtime_error("VethLink: `" + command + "` failed");
    }
}

}  // namespace

std::optional<std::string> VethLink::unavailable() {
    if (::geteuid() != 0) return "not root: a network namespace and a veth pair need CAP_NET_ADMIN";
    if (run({"ip", "netns", "list"}) != 0) return "`ip netns` does not work here";
    try {
        VethLink probe;
    } catch (const std::exception& e) {
        return e.what();
    }
    return std::nullopt;
}

VethLink::VethLink() {
    // Names and a /30 from the pid: tests running in parallel each get their own.
    const int id = static_cast<int>(::getpid()) % 16384;
    netns_ = "pgsluice-cut-" + std::to_string(::getpid());
    host_interface_ = "pgsc" + std::to_string(id) + "h";
    inside_interface_ = "pgsc" + std::to_string(id) + "n";
    const std::string prefix = "10.231." + std::to_string(id >> 6) + ".";
    const std::string host_address = prefix + std::to_string((id & 63) * 4 + 1);
    inside_address_ = prefix + std::to_string((id & 63) * 4 + 2);

    run({"ip", "netns", "delete", netns_});  // left by a crashed run of this pid, if any
    must({"ip", "netns", "add", netns_});
    try {
        must({"ip", "link", "add", host_interface_, "type", "veth", "peer", "name", inside_interface_});
        must({"ip", "link", "set", inside_interface_, "netns", netns_});
        must({"ip", "addr", "add", host_address + "/30", "dev", host_interface_});
        must({"ip", "link", "set", host_interface_, "up"});
        must({"ip", "-n", netns_, "addr", "add", inside_address_ + "/30", "dev", inside_interface_});
        must({"ip", "-n", netns_, "link", "set", inside_interface_, "up"});
        must({"ip", "-n", netns_, "link", "set", "lo", "up"});
    } catch (...) {
        run({"ip", "link", "delete", host_interface_});
        run({"ip", "netns", "delete", netns_});
        throw;
    }
}

VethLink::~VethLink() {
    // Deleting the namespace deletes its end of the pair, and with it the host's end.
    run({"ip", "link", "delete", host_interface_});
    run({"ip", "netns", "delete", netns_});
}

// With tc netem (sch_netem) where the kernel has it; else the far end of the pair goes down:
// the host's end keeps its address and route (marked linkdown) and its packets are dropped
// by the veth driver, with no error to the sender either way.
void VethLink::cut() {
    netem_ = run({"tc", "qdisc", "add", "dev", host_interface_, "root", "netem", "loss", "100%"}) == 0;
    if (!netem_) must({"ip", "-n", netns_, "link", "set", inside_interface_, "down"});
}

void VethLink::restore() {
    if (netem_) must({"tc", "qdisc", "del", "dev", host_interface_, "root"});
    else must({"ip", "-n", netns_, "link", "set", inside_interface_, "up"});
}

EnterNetns::EnterNetns(const std::string& name) {
    own_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    const bool entered = own_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) ::close(target);
    if (!entered) {
        if (own_ >= 0) ::close(own_);
        throw std::runtime_error("cannot enter network namespace " + name);
    }
}

EnterNetns::~EnterNetns() {
    ::setns(own_, CLONE_NEWNET);
    ::close(own_);
}

}  // namespace harness
