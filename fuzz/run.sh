#!/usr/bin/env bash
# Builds the libFuzzer targets the way `cargo fuzz build -O` does, without
# cargo-fuzz and on stable Rust (RUSTC_BOOTSTRAP=1 lets rustc take the
# nightly-only flags), then runs each target (all, or those named) for
# SECONDS, one after another. One build serves every target.
#
#   fuzz/run.sh 60                      # every target, 60 s each
#   fuzz/run.sh 3600 model_redb         # one target, an hour
#
# A crash (a panic, a sanitizer report, a leak, a timeout, running out of
# memory) saves the input under fuzz/artifacts/<target>/; the remaining
# targets still run, and the script exits 1 at the end, naming the failed
# targets. Replay an input with the binary the script prints:
#   fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/<file>
#
# Environment: RUSTFLAGS is appended to the flags below; FUZZ_ARGS adds
# libFuzzer options (e.g. FUZZ_ARGS="-use_value_profile=1 -max_len=8192").
set -euo pipefail
cd "$(dirname "$0")"

all_targets=(model_memory model_redb replay_redb config_parse)

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: fuzz/run.sh SECONDS [TARGET...]   (targets: ${all_targets[*]})" >&2
  exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi
for target in "${targets[@]}"; do
  if [[ " ${all_targets[*]} " != *" $target "* ]]; then
    echo "error: unknown fuzz target '$target' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

host=$(rustc -vV | sed -n 's/^host: //p')
if [ -z "$host" ]; then
  echo "error: could not read the host triple from 'rustc -vV'" >&2
  exit 1
fi

# The flags cargo-fuzz 0.13 passes for `cargo fuzz build -O` on Linux with
# its default address sanitizer, plus debug assertions and overflow checks
# (cargo-fuzz adds -Cdebug-assertions only with -a or without -O):
# - SanitizerCoverage as libFuzzer wants it: edge coverage through inline
#   8-bit counters, the PC table, comparison tracing and stack depth;
# - no branch folding, so branches stay separate edges for the coverage;
# - --cfg fuzzing, which some crates (and libfuzzer-sys) look at;
# - one codegen unit: slower to build, but the sancov pass keeps ThinLTO
#   from inlining across units, and with 16 units model_memory ran about
#   2.5 times fewer executions per second here;
# - AddressSanitizer: -Zsanitizer=address works on stable 1.95 with
#   RUSTC_BOOTSTRAP=1 (the toolchain ships librustc-stable_rt.asan.a; the
#   standard library itself is not instrumented, as with cargo-fuzz).
# Dead code is stripped, cargo-fuzz's default (no -Clink-dead-code).
rustflags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  --cfg fuzzing
  -Ccodegen-units=1
  -Cdebug-assertions
  -Coverflow-checks
  -Zsanitizer=address
)
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="${rustflags[*]}${RUSTFLAGS:+ $RUSTFLAGS}"
# cargo-fuzz's default ASan option (its one-definition-rule check misfires
# on Rust binaries); options of your own are kept.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

# --target: RUSTFLAGS then apply to the target's crates only, not to build
# scripts and proc macros. Line tables only, as cargo-fuzz: file:line in
# panic and sanitizer backtraces.
bins=()
for target in "${targets[@]}"; do
  bins+=(--bin "$target")
done
echo "== fuzz build (${targets[*]}) for $host"
build_start=$SECONDS
cargo build --manifest-path Cargo.toml --target-dir target --target "$host" --release \
  --config 'profile.release.debug="line-tables-only"' "${bins[@]}"
echo "== fuzz build took $((SECONDS - build_start))s"

read -r -a extra <<<"${FUZZ_ARGS:-}"
failed=()
for target in "${targets[@]}"; do
  binary="target/$host/release/$target"
  mkdir -p "corpus/$target" "artifacts/$target"
  corpora=("corpus/$target")
  if [ -d "seeds/$target" ]; then
    corpora+=("seeds/$target")
  fi
  options=(-artifact_prefix="artifacts/$target/" -max_total_time="$seconds" -print_final_stats=1)
  if [ "$target" = config_parse ]; then
    options+=(-dict=config.dict)
  fi
  echo "== fuzz $target for ${seconds}s: fuzz/$binary ${options[*]} ${extra[*]} ${corpora[*]}"
  status=0
  "./$binary" "${options[@]}" "${extra[@]}" "${corpora[@]}" || status=$?
  if [ $status -ne 0 ]; then
    echo "== fuzz $target FAILED (exit $status); the input is in fuzz/artifacts/$target/;" \
      "replay: fuzz/$binary fuzz/artifacts/$target/<file>" >&2
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzz: no crash in ${targets[*]}"
