#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds with
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs the unit, integration and deploy
# tests through ctest. Integration tests start their own PostgreSQL; nothing needs to be running.
#   --no-image   skip the container image test (podman build and run: the longest test);
#                ctest reports it as skipped
set -euo pipefail

for argument in "$@"; do
  case $argument in
    --no-image)
      export PGSLUICE_SKIP_IMAGE_TEST=1
      echo "run.sh: --no-image: the container image test will be reported as skipped"
      ;;
    -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $argument (try --help)" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
./deploy/install-deps.sh --test

build_dir=build-test
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPGSLUICE_SANITIZE=ON
cmake --build "$build_dir" -j "$(nproc)"

# Sanitizer findings fail the test that triggered them: pgsluice aborts, the test sees it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build_dir"
ctest --output-on-failure -j 2 --timeout 300
