#!/usr/bin/env bash
# Runs the fuzz targets (all, or those named) for SECONDS each, one after
# another, on stable Rust (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly-only flags). Exits non-zero at the first target that finds a
# crash; the input is saved under fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 60                      # every target, 60 s each
#   fuzz/run.sh 3600 model_redb         # one target, an hour
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(model_memory model_redb config_parse)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "error: cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
  exit 1
fi
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  corpora=("corpus/$target")
  mkdir -p "corpus/$target"
  if [ -d "seeds/$target" ]; then
    corpora+=("seeds/$target")
  fi
  options=(-max_total_time="$seconds" -print_final_stats=1)
  if [ "$target" = config_parse ]; then
    options+=(-dict=config.dict)
  fi
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run -O "$target" "${corpora[@]}" -- "${options[@]}"
done
