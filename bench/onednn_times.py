#!/usr/bin/python3
"""Where ours and PyTorch's ResNet-56 convolutions spend their time, primitive by primitive, as oneDNN times them.

Runs `assocconv bench` and bench/pytorch_peer.py (same ResNet-56 training steps) with ONEDNN_VERBOSE=1, and sums
each convolution primitive's own execution time by pass and shape over the timed training steps (plain and
associative alike: their convolutions have the same shapes), per step, with the implementation oneDNN chose. libtorch
2.10 (TorchSharp 0.107) bundles oneDNN 3.7; Debian's PyTorch 1.13 links oneDNN 2.6.

    /usr/bin/python3 bench/onednn_times.py [--threads 2] [--memory-format channels-last] [--steps 5] [--json]
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIRST_CONVOLUTION = "ic3oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1"


def parse(lines, warmup_steps=4, end_marker=None):
    """(propagation, shape) -> [implementation, total ms, calls] over the timed training steps, and their number.

    A training step computes the first convolution's weight gradient exactly once (inference never does), which
    counts the steps; the first warmup_steps (both programs warm each model up twice) are left out, and so is
    everything after a line containing end_marker (the bench's later inference timings).
    """
    found = {}
    steps = 0
    for line in lines:
        if end_marker is not None and end_marker in line:
            break
        fields = line.strip().split(",")
        if not fields[0] == "onednn_verbose" or "exec" not in fields[:4]:
            continue
        at = fields.index("exec")   # oneDNN 3: onednn_verbose,v1,primitive,exec,cpu,...; oneDNN 2: onednn_verbose,exec,cpu,...
        kind, implementation, propagation = fields[at + 2], fields[at + 3], fields[at + 4]
        if kind != "convolution" or propagation not in ("forward_training", "backward_data", "backward_weights"):
            continue   # the bench's inference timings run forward_inference
        shape = fields[-2].split("_", 1)[1] if fields[-2].startswith("mb") else fields[-2]
        if propagation == "backward_weights" and shape == FIRST_CONVOLUTION:
            steps += 1   # the last pass of a step
            continue
        if steps < warmup_steps:
            continue
        entry = found.setdefault((propagation, shape), [implementation, 0.0, 0])
        entry[1] += float(fields[-1])
        entry[2] += 1
    return found, steps - warmup_steps


def run(command, end_marker=None):
    env = dict(os.environ, ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    # one stream: oneDNN flushes each verbose line, so the bench's progress lines (stderr) arrive in order
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"onednn_times: {' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}")
    found, steps = parse(done.stdout.splitlines(), end_marker=end_marker)
    if steps <= 0:
        sys.exit(f"onednn_times: no oneDNN convolution in the output of {' '.join(command)}")
    return found, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per repetition (one repetition)")
    parser.add_argument("--memory-format", choices=["contiguous", "channels-last"], default="channels-last")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1:
        parser.error("--threads and --steps must be at least 1")
    common = ["--threads", str(args.threads), "--repetitions", "1", "--steps", str(args.steps), "--memory-format", args.memory_format]
    ours, our_steps = run(["./assocconv", "bench", "--models", "resnet56", "--rounds", "1", "--round-steps", "1", "--json"] + common,
                          end_marker="resnet56: kernel generation")
    peer, peer_steps = run(["/usr/bin/python3", "bench/pytorch_peer.py", "--json"] + common)

    rows = []
    for key in sorted(set(ours) | set(peer), key=lambda k: -(ours.get(k, [None, 0])[1] / our_steps)):
        o, p = ours.get(key, ["-", 0.0, 0]), peer.get(key, ["-", 0.0, 0])
        rows.append({"propagation": key[0], "shape": key[1],
                     "ours_ms_per_step": o[1] / our_steps, "ours_implementation": o[0],
                     "pytorch_ms_per_step": p[1] / peer_steps, "pytorch_implementation": p[0]})
    total_ours = sum(r["ours_ms_per_step"] for r in rows)
    total_peer = sum(r["pytorch_ms_per_step"] for r in rows)
    if args.json:
        print(json.dumps({"steps": {"ours": our_steps, "pytorch": peer_steps}, "rows": rows,
                          "total_ms_per_step": {"ours": total_ours, "pytorch": total_peer}}, indent=1))
        return
    print(f"oneDNN convolution time per ResNet-56 training step (ms; {our_steps} and {peer_steps} steps, "
          f"{args.threads} threads, {args.memory_format})")
    print()
    print("| pass | shape | ours | oneDNN 3.7 implementation | PyTorch 1.13 | oneDNN 2.6 implementation |")
    print("|---|---|---:|---|---:|---|")
    for r in rows:
        print(f"| {r['propagation']} | {r['shape']} | {r['ours_ms_per_step']:.2f} | {r['ours_implementation']} | "
              f"{r['pytorch_ms_per_step']:.2f} | {r['pytorch_implementation']} |")
    print(f"| all | | {total_ours:.1f} | | {total_peer:.1f} | |")


if __name__ == "__main__":
    main()
