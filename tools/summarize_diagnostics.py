#!/usr/bin/env python3
"""Summarises the diagnostics.csv of runs (train --diagnostics-every N): per run, over chosen steps, the mean kernel
scale over He's fan-in scale and the mean relative step of kernels per stage, and per parameter group the
parameter RMS, gradient RMS and relative step. Usage: summarize_diagnostics.py [--steps A:B] RUN_DIR..."""
import argparse, csv, collections, os, statistics

def mean(values):
    values = [v for v in values if v == v]   # skips NaN (relative steps of all-zero parameters)
    return statistics.mean(values) if values else float('nan')

def stage(name):
    return name.split('.')[0] if '.' in name else name

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', default='0:1000000', help='first:last step (inclusive) to average over')
    ap.add_argument('runs', nargs='+')
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.steps.split(':'))
    print('| run | part | RMS / He scale | relative step per step | gradient RMS |')
    print('|---|---|---:|---:|---:|')
    for run in a.runs:
        rows = [r for r in csv.DictReader(open(os.path.join(run, 'diagnostics.csv'))) if lo <= int(r['step']) <= hi]
        kernels = collections.defaultdict(lambda: ([], []))
        groups = collections.defaultdict(lambda: ([], [], []))
        for r in rows:
            if r['kind'] == 'kernel':
                k = kernels[stage(r['name'])]
                k[0].append(float(r['rms_over_he'])); k[1].append(float(r["relative_step"] or "nan"))
            else:
                g = groups[r['name']]
                g[0].append(float(r['rms'])); g[1].append(float(r["relative_step"] or "nan")); g[2].append(float(r['grad_rms']))
        name = os.path.basename(os.path.normpath(run))
        for s, (scale, step) in sorted(kernels.items()):
            print(f'| {name} | kernels {s} | {mean(scale):.2f} | {mean(step):.2e} | |')
        for g, (rms, step, grad) in sorted(groups.items()):
            print(f'| {name} | group {g} (RMS {mean(rms):.3g}) | | {mean(step):.2e} | {mean(grad):.2e} |')

if __name__ == '__main__':
    main()
