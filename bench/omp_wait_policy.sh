#!/bin/bash
# OpenMP wait policy: one ResNet-56 (plain) training alone, then two side by side, under libgomp's default
# policy and under OMP_WAIT_POLICY=PASSIVE; prints training images/s. Run it on an otherwise idle machine.
# Usage: bench/omp_wait_policy.sh [REPETITIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
./assocconv --help > /dev/null   # builds the CLI if needed; the runs below bypass the launcher's own policy
dll=src/AssocConv.Cli/bin/Release/net10.0/AssocConv.Cli.dll
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # NAME POLICY
  if [ "$2" != default ]; then export OMP_WAIT_POLICY=$2; else unset OMP_WAIT_POLICY; fi
  dotnet "$dll" train --model resnet56 --plain --data sample --epochs 1 --train-limit 3840 --val-split 0 \
    --threads 2 --out "$out/$1" --json 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["images_per_second"],1))'
}
for rep in $(seq 1 "${1:-2}"); do
  for policy in default PASSIVE; do
    alone=$(run "alone-$rep-$policy" "$policy")
    run "a-$rep-$policy" "$policy" > "$out/a.txt" &
    run "b-$rep-$policy" "$policy" > "$out/b.txt" &
    wait
    echo "repetition $rep, $policy: alone $alone images/s; side by side $(cat "$out/a.txt") and $(cat "$out/b.txt") images/s"
  done
done
