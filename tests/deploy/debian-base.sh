#!/usr/bin/env bash
# Makes the debian:bookworm base image the Dockerfile starts from, without a registry: a
# `debootstrap --variant=minbase` tree from the Debian mirror apt is configured with, cached
# as a tarball under $PGSLUICE_TEST_CACHE (/var/cache/pgsluice-test) so reruns skip the
# download, then `podman import`ed as docker.io/library/debian:bookworm (the name `FROM
# debian:bookworm` resolves to, so nothing is pulled).
# Usage: debian-base.sh   (podman must see CONTAINERS_CONF if the caller needs one)
set -euo pipefail

image=docker.io/library/debian:bookworm
cache=${PGSLUICE_TEST_CACHE:-/var/cache/pgsluice-test}
tarball=$cache/debian-bookworm-minbase.tar

if podman image exists "$image"; then
  exit 0
fi

# The mirror of the machine's own apt sources (deb822 "URIs:" or one-line "deb URL"),
# the first that serves the main archive rather than debian-security.
mirror() {
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*/\2/p' |
    grep -E '/debian/?$' | head -n1)
  echo "${url:-http://deb.debian.org/debian}"
}

if [[ ! -s $tarball ]]; then
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  url=$(mirror)
  echo "debian-base: debootstrap --variant=minbase bookworm from $url (cached in $tarball)"
  timeout 900 debootstrap --variant=minbase bookworm "$root" "$url" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
  # What an official image does too: no apt caches in the image.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  tar -C "$root" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
podman import --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "debian-base: imported $image from $tarball"
