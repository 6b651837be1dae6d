"""Shared by the Python tests in tests/deploy: a real pgsluice process with a config the
test writes, bounded waits, free ports. No PostgreSQL: pgsluice opens server connections
only when a client needs one, so a config pointing at a closed port still starts."""
import os
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def minimal_config(port, metrics_port, extra=""):
    return (
        f"listen: {{address: 127.0.0.1, port: {port}}}\n"
        f"metrics: {{enabled: true, address: 127.0.0.1, port: {metrics_port}}}\n"
        "workers: 1\n"
        f"{extra}"
        "databases:\n  app: {host: 127.0.0.1, port: 1}\n"
        "users:\n  app: {password: {env: APP_PASSWORD}}\n"
    )


class Pgsluice:
    """pgsluice run -c DIR/pgsluice.yaml; stopped (SIGTERM, then SIGKILL) by stop()."""

    def __init__(self, binary, config_text, env=None):
        self.dir = tempfile.TemporaryDirectory(prefix="pgsluice-deploy-test-")
        self.config = os.path.join(self.dir.name, "pgsluice.yaml")
        self.log_path = os.path.join(self.dir.name, "pgsluice.log")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.env = dict(os.environ, APP_PASSWORD="app-secret", **(env or {}))
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen([binary, "run", "-c", self.config], env=self.env,
                                        stdout=self.log_file, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for_log(self, text, seconds=15.0):
        return wait_until(lambda: text in self.log(), seconds)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        self.dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()
