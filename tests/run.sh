#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds with
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs the unit, integration, fuzz-corpus
# and deploy tests through ctest. Integration tests start their own PostgreSQL; nothing needs
# to be running.
#   --no-image   skip the container image test (podman build and run: the longest test);
#                ctest reports it as skipped
#   --tsan       build with ThreadSanitizer instead (into build-tsan) and run the unit tests
#                and the integration tests where pgsluice's threads meet (admin console,
#                pools, reload, sessions moving between workers, the drain). Slower; not
#                part of the default run.
set -euo pipefail

tsan=0
for argument in "$@"; do
  case $argument in
    --no-image)
      export PGSLUICE_SKIP_IMAGE_TEST=1
      echo "run.sh: --no-image: the container image test will be reported as skipped"
      ;;
    --tsan) tsan=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $argument (try --help)" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
./deploy/install-deps.sh --test
# node-postgres for the driver tests, pinned by tests/drivers/package-lock.json.
# Without a reachable registry the node-postgres case is skipped (and says so), not failed.
if [[ ! -d tests/drivers/node_modules/pg ]]; then
  npm ci --prefix tests/drivers --no-audit --no-fund --loglevel=error ||
    echo "run.sh: npm ci failed: the node-postgres driver test will be skipped" >&2
fi

if ((tsan)); then
  build_dir=build-tsan
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPGSLUICE_TSAN=ON
  cmake --build "$build_dir" -j "$(nproc)"
  # A report does not stop pgsluice (so that one run shows every race); the harness fails
  # the test whose pgsluice log holds one, and a test binary with one exits 66. Only
  # third-party false positives are suppressed, each with its reason (tests/tsan.supp).
  export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4 suppressions=$PWD/tests/tsan.supp"
  # GCC 12's ThreadSanitizer cannot map its shadow memory when the kernel randomizes more
  # than 28 bits of mmap addresses (vm.mmap_rnd_bits, 32 on some newer kernels): then run
  # without address randomization, which every child (pgsluice, PostgreSQL) inherits.
  run=()
  if [[ $(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28) -gt 28 ]]; then
    run=(setarch "$(uname -m)" -R)
  fi
  # The integration tests must drive the instrumented binary.
  if ! ldd "$build_dir/cmd/pgsluice" | grep -q libtsan; then
    echo "$build_dir/cmd/pgsluice is not built with ThreadSanitizer" >&2
    exit 1
  fi
  cd "$build_dir"
  started=$SECONDS
  "${run[@]}" ctest --output-on-failure -j 2 --timeout 300
  echo "ThreadSanitizer run: $((SECONDS - started)) s of tests"
  exit 0
fi

build_dir=build-test
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPGSLUICE_SANITIZE=ON
cmake --build "$build_dir" -j "$(nproc)"

# Sanitizer findings fail the test that triggered them: pgsluice aborts, the test sees it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build_dir"
ctest --output-on-failure -j 2 --timeout 300
