#!/usr/bin/env bash
# Builds the fuzz targets with clang-14, libFuzzer, ASan and UBSan into build-fuzz/, then runs
# each target for SECONDS (default 60), starting from its seed corpus in tests/fuzz/corpus/.
# New inputs go to build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/<target>/.
# Prints one line per target (executions, coverage, corpus size); exits 1 if any crashed.
#   tests/fuzz/run.sh SECONDS [TARGET...]
set -euo pipefail

seconds=${1:-60}
shift || true
cd "$(dirname "$0")/../.."
./deploy/install-deps.sh --fuzz

build_dir=build-fuzz
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPGSLUICE_SANITIZE=ON -DPGSLUICE_FUZZ=ON >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(frame_scanner startup scram_server scram_client server_messages config_loader extended_query)
fi
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
summary=()
for target in "${targets[@]}"; do
  corpus="$build_dir/corpus/$target"
  artifacts="$build_dir/artifacts/$target/"
  log="$build_dir/fuzz-$target.log"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzzing $target for ${seconds}s (log: $log)"
  status=0
  # -timeout: an input that takes over 10 s is a finding (work a peer can make pgsluice do).
  "$build_dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K\d+' "$log" || echo '?')
  cov=$(grep -oP '(?:#\d+\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+)cov: \K\d+' "$log" | tail -1 || echo '?')
  ft=$(grep -oP ' ft: \K\d+' "$log" | tail -1 || echo '?')
  entries=$(find "$corpus" -type f | wc -l)
  if ((status != 0)); then
    failed=1
    summary+=("$target: CRASH (exit $status) after $execs executions; see $log and $artifacts")
  else
    summary+=("$target: $execs executions, cov $cov, ft $ft, $entries new corpus inputs")
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
