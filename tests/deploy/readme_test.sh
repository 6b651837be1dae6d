#!/usr/bin/env bash
# The README is the single source of truth: it names every file under deploy/ (the
# Ansible role by its directory) and the image's environment variables.
# Usage: readme_test.sh REPO_DIR
set -euo pipefail

cd "$1"
missing=0
while read -r path; do
  [[ $path == deploy/ansible/roles/pgsluice/* ]] && path=deploy/ansible/roles/pgsluice/
  if ! grep -qF "$path" README.md; then
    echo "FAIL: README.md does not mention $path"
    missing=1
  fi
done < <(git ls-files deploy Dockerfile .dockerignore 2>/dev/null || find deploy -type f)
while read -r variable; do
  grep -qF "$variable" README.md || { echo "FAIL: README.md does not document $variable"; missing=1; }
done < <(grep -oE 'PGSLUICE_[A-Z_]+' deploy/docker/entrypoint.sh | sort -u | grep -vE 'PGSLUICE_(BIN|TEMPLATE|RENDERED)$')
exit "$missing"
