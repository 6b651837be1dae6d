#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages pgsluice needs to build and test, and only
# those that are missing. Shared by deploy/quickstart.sh and tests/run.sh.
# Never installs the unversioned libboost-dev: it conflicts with libboost1.81-dev.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libsystemd-dev
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(catch2 libpq-dev postgresql-15 postgresql-client-15 pgbouncer openssl)  # openssl: the tests' CA
  # The deploy tests (tests/deploy): the tools that consume each artefact, and podman,
  # buildah, runc and debootstrap to build and run the image without a registry.
  packages+=(shellcheck python3-yaml prometheus ansible ansible-lint systemd
    podman buildah runc debootstrap netavark aardvark-dns containernetworking-plugins
    uidmap slirp4netns fuse-overlayfs)
  # The driver tests (tests/drivers): psycopg 3, asyncpg, pgjdbc with a JDK to run it, and
  # node for node-postgres (itself from npm, see tests/run.sh). A node from elsewhere
  # (NodeSource's, which bundles npm) is kept: Debian's npm would conflict with it.
  packages+=(python3-psycopg python3-asyncpg libpostgresql-jdbc-java default-jdk-headless)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
elif [[ "${1:-}" == "--fuzz" ]]; then
  # tests/fuzz/run.sh: clang and its libFuzzer runtime (the default test run needs neither)
  packages+=(clang-14 libclang-rt-14-dev)
elif [[ "${1:-}" == "--quickstart" ]]; then
  packages+=(postgresql-15 postgresql-client-15)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  sudo=sudo
else
  sudo=
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
# The postgresql package must not start a cluster of its own: tests start their own.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
