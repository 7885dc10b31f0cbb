#!/usr/bin/env bash
# The fast recipe's ablation: the associative ResNet-20 (16x16x3x3, code 72) on CIFAR-10 with the whole fast recipe,
# with candidate changes (weight decay of generator and codes, bfloat16 convolutions, weight average, cutout, twice the
# steps per epoch), then with one ingredient at a time set back to the reference's value, each for the same epochs and
# seed. Runs one after another (never two libtorch processes at once), each resumable: run the script again after an
# interruption.
# Usage: bench/recipe_ablation.sh [EPOCHS] [OUT]   (defaults 40 and runs/ablation); prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-40}"
out="${2:-runs/ablation}"
model=(--model resnet20 --slice 16x16 --code-size 72 --data cifar10 --recipe fast --epochs "$epochs" --threads 2)
variants=(
  "fast|"
  "generator-code-decay-2.5e-4|--generator-weight-decay 2.5e-4 --code-weight-decay 2.5e-4"
  "generator-code-decay-1e-3|--generator-weight-decay 1e-3 --code-weight-decay 1e-3"
  "bf16|--precision bf16"
  "ema-0.999|--model-ema-decay 0.999"
  "no-fan-in-codes|--code-init reference"
  "no-label-smoothing|--label-smoothing 0"
  "no-nesterov|--nesterov false"
  "norm-weight-decay|--norm-weight-decay 5e-4"
  "no-warmup|--lr-warmup-epochs 0"
  "reference-schedule|--schedule reference --lr-warmup-epochs 0"
  "lr-0.05|--lr 0.05"
  "lr-0.2|--lr 0.2"
  "cutout-8|--cutout 8"
  "batch-64|--batch-size 64"
)
for v in "${variants[@]}"; do
  name="${v%%|*}"; extra="${v#*|}"
  dir="$out/$name"
  if [ -f "$dir/summary.json" ] && grep -q '"completed": true' "$dir/summary.json"; then continue; fi
  # shellcheck disable=SC2086
  if [ -f "$dir/last.ckpt" ]; then ./assocconv train --resume "$dir" --threads 2 >&2
  else ./assocconv train "${model[@]}" $extra --out "$dir" >&2; fi
done
python3 - "$out" "${variants[@]}" <<'PY'
import json, os, sys
out, variants = sys.argv[1], sys.argv[2:]
print('| variant | options | final-epoch test accuracy | with flip TTA | training time |')
print('|---|---|---:|---:|---:|')
for v in variants:
    name, extra = v.split('|', 1)
    s = json.load(open(os.path.join(out, name, 'summary.json')))
    flip = s.get('last_test_accuracy_flip')
    print(f"| {name} | `{extra or '(the fast recipe)'}` | {s['last_test_accuracy']:.2f}% | "
          f"{'-' if flip is None else f'{flip:.2f}%'} | {s['train_seconds'] / 60:.1f} min |")
PY
