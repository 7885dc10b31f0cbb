#!/usr/bin/env bash
# The ResNet-56 rows of issue #13: plain and associative (12x12x3x3, code 72), fast recipe, 30 epochs, seeds 1 and 2,
# on CIFAR-10. Seed 1 is the paper's `resnet56` row of `reproduce`; compare reuses those two runs (linked, not trained
# again) for its seed 1, trains seed 2 and draws the learning curves of all four. Runs one after another (never two
# libtorch processes at once); each run is resumable: run the script again after an interruption. About 110 min per run
# on 2 cores.
# Usage: bench/resnet56_seeds.sh [OUT]   (default runs); writes OUT/paper (reproduce) and OUT/rn56 (compare).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs}"
./assocconv reproduce --rows resnet56 --data cifar10 --threads 2 --out "$out/paper"
mkdir -p "$out/rn56/seed-1"
for variant in plain associative; do
  link="$out/rn56/seed-1/$variant"
  [ -e "$link" ] || ln -s "$(realpath "$out/paper/resnet56/$variant")" "$link"
done
./assocconv compare --model resnet56 --slice 12x12 --code-size 72 --data cifar10 --recipe fast --epochs 30 \
  --threads 2 --seeds 1,2 --out "$out/rn56"
