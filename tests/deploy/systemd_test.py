"""deploy/systemd/pgsluice.service, checked with systemd's own tools and run as systemd
would run its commands (there is no systemd as PID 1 on the test machines):
- `systemd-analyze verify` prints nothing (it exits 0 even on unknown keys);
- `systemd-analyze security --offline=true` scores at most 2.0 and the README quotes it;
- the directives the README promises are there;
- Type=notify: pgsluice sends READY=1 to $NOTIFY_SOCKET once it listens;
- ExecReload, run line by line with $MAINPID as systemd does, refuses a bad config before
  it reaches the daemon (exit non-zero, no SIGHUP) and reloads a good one.
Usage: systemd_test.py REPO_DIR PGSLUICE_BINARY"""
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgsluice_run import Pgsluice, free_port, minimal_config  # noqa: E402

repo, binary = sys.argv[1], os.path.abspath(sys.argv[2])
unit_path = os.path.join(repo, "deploy/systemd/pgsluice.service")
failures = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message)
    if not condition:
        failures.append(message)


unit = open(unit_path).read()
work = tempfile.TemporaryDirectory(prefix="pgsluice-systemd-test-")
config_path = os.path.join(work.name, "pgsluice.yaml")
# The unit as installed, with the paths of this build: verify needs an executable ExecStart.
local_unit = os.path.join(work.name, "pgsluice.service")
with open(local_unit, "w") as f:
    f.write(unit.replace("/usr/bin/pgsluice", binary).replace("/etc/pgsluice/pgsluice.yaml", config_path))

verify = subprocess.run(["systemd-analyze", "verify", local_unit], capture_output=True, text=True)
check(verify.returncode == 0 and verify.stdout + verify.stderr == "",
      f"systemd-analyze verify prints nothing (got {verify.stdout + verify.stderr!r})")

security = subprocess.run(["systemd-analyze", "security", "--offline=true", local_unit],
                          capture_output=True, text=True)
score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
check(score is not None and float(score.group(1)) <= 2.0,
      f"systemd-analyze security exposure at most 2.0 (got {score.group(1) if score else security.stderr})")
readme = open(os.path.join(repo, "README.md")).read()
if score:
    check(f"exposure {score.group(1)}" in readme, f"the README quotes the score: exposure {score.group(1)}")

for directive in ["Type=notify", "ExecStartPre=/usr/bin/pgsluice check", "ExecReload=/usr/bin/pgsluice check",
                  "Restart=on-failure", "LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                  "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=",
                  "SystemCallFilter=@system-service", "User=pgsluice"]:
    check(directive in unit, f"the unit has {directive.strip()}")

reloads = [line.split("=", 1)[1] for line in unit.replace("/usr/bin/pgsluice", binary)
           .replace("/etc/pgsluice/pgsluice.yaml", config_path).splitlines() if line.startswith("ExecReload=")]


def systemctl_reload(pid):
    """ExecReload= lines in order, stopping at the first that fails, as systemd does, with
    the secrets EnvironmentFile= would give them."""
    env = dict(os.environ, APP_PASSWORD="app-secret")
    for command in reloads:
        result = subprocess.run(shlex.split(command.replace("$MAINPID", str(pid))), capture_output=True, text=True,
                                env=env)
        if result.returncode != 0:
            return result
    return result


port, metrics_port = free_port(), free_port()
with open(config_path, "w") as f:
    f.write(minimal_config(port, metrics_port))
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify_path = os.path.join(work.name, "notify")
notify.bind(notify_path)
notify.settimeout(15)
proxy = Pgsluice(binary, open(config_path).read(), env={"NOTIFY_SOCKET": notify_path})
try:
    # The unit's commands check the file the test's daemon reads.
    os.remove(config_path)
    os.symlink(proxy.config, config_path)
    messages = []
    try:
        while not any("READY=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
    except socket.timeout:
        pass
    check(any("READY=1" in m for m in messages), f"READY=1 on NOTIFY_SOCKET (got {messages})")

    with open(proxy.config, "a") as f:
        f.write("defaults: {pool_size: -3}\n")
    bad = systemctl_reload(proxy.process.pid)
    check(bad.returncode != 0 and "pool_size" in bad.stdout,
          "ExecReload fails on a bad config and says why: " + bad.stdout.strip().splitlines()[0])
    check("SIGHUP" not in proxy.log(), "a bad config never reaches the daemon (no SIGHUP sent)")

    with open(proxy.config, "w") as f:
        f.write(minimal_config(port, metrics_port, "log_level: debug\n"))
    good = systemctl_reload(proxy.process.pid)
    check(good.returncode == 0, "ExecReload succeeds on a good config")
    check(proxy.wait_for_log("config reloaded from"), "the daemon reloaded it")
finally:
    proxy.stop()
    notify.close()

sys.exit(1 if failures else 0)
