#!/usr/bin/python3
"""Ours against PyTorch on the same ResNet-56 training steps, the programs run alternately.

Two programs cannot share one process, and this machine's speed drifts by ~10% over minutes, so a lone pair of
runs says little. This script runs `assocconv bench` and bench/pytorch_peer.py one after the other, --runs times, rotating who goes first, and
reports the medians over runs and the median of the paired ratios (each of our runs over the peer's run of the
same round). The peers: the reference model as its authors run it (PyTorch's default contiguous layout), and
PyTorch at its fastest here: --memory-format (channels-last) like ours, as written and with the same in-place
ReLU/add as our models. The peers run on the allocator the assocconv launcher gives ours (jemalloc when installed).

    /usr/bin/python3 bench/versus_pytorch.py [--runs 6] [--memory-format channels-last] [--threads 2] [--json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def peer_environment():
    """The allocator the assocconv launcher gives ours (jemalloc when installed), given to the peers too."""
    env = dict(os.environ)
    if os.environ.get("ASSOCCONV_JEMALLOC", "1") != "0" and not os.environ.get("LD_PRELOAD") and os.path.isfile(JEMALLOC):
        env["LD_PRELOAD"] = JEMALLOC
        env.setdefault("MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")
    return env


def run_json(command, env=None):
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"versus_pytorch: {' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="runs of each program (each run: medians of --repetitions)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-format", choices=["contiguous", "channels-last"], default="channels-last")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.runs < 1 or args.repetitions < 1 or args.threads < 1:
        parser.error("--runs, --repetitions and --threads must be at least 1")

    common = ["--threads", str(args.threads), "--repetitions", str(args.repetitions), "--memory-format", args.memory_format, "--json"]
    peer = ["/usr/bin/python3", "bench/pytorch_peer.py"]
    programs = {"AssocConv": ["./assocconv", "bench", "--models", "resnet56", "--rounds", "1", "--round-steps", "1"] + common}
    if args.memory_format != "contiguous":
        programs["PyTorch, as the reference runs it (contiguous)"] = peer + [c if c != args.memory_format else "contiguous" for c in common]
    programs[f"PyTorch, {args.memory_format}"] = peer + common
    programs[f"PyTorch, {args.memory_format}, in place"] = peer + ["--inplace"] + common
    names = list(programs)
    rates = {name: {"plain": [], "associative": []} for name in names}
    for run in range(args.runs):
        for k in range(len(names)):
            name = names[(run + k) % len(names)]
            result = run_json(programs[name], env=None if name == "AssocConv" else peer_environment())
            if isinstance(result, list):
                allocator = result[0]["allocator"]
                result = result[0]
                # peer_environment repeats the launcher's choice of allocator: it must agree with what ours reports
                given = "jemalloc" if "libjemalloc" in peer_environment().get("LD_PRELOAD", "") else "system"
                if allocator != given:
                    sys.exit(f"versus_pytorch: ours ran on {allocator}, the peers would get {given}; set ASSOCCONV_JEMALLOC alike")
            rates[name]["plain"].append(result["train_images_per_s_plain"])
            rates[name]["associative"].append(result["train_images_per_s_associative"])
            print(f"run {run + 1}/{args.runs} {name}: plain {rates[name]['plain'][-1]:.1f}, "
                  f"associative {rates[name]['associative'][-1]:.1f} img/s", file=sys.stderr, flush=True)

    summary = {"runs": args.runs, "threads": args.threads, "memory_format": args.memory_format, "allocator": allocator,
               "programs": {}}
    for name in names:
        entry = {}
        for step in ("plain", "associative"):
            samples = rates[name][step]
            entry[step] = {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}
            if name != "AssocConv":
                paired = [ours / peer for ours, peer in zip(rates["AssocConv"][step], samples)]
                entry[step]["ours_over_this_paired_median"] = statistics.median(paired)
                entry[step]["ours_over_this_paired"] = paired
        summary["programs"][name] = entry

    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"ResNet-56, batch 128, {args.threads} threads, {args.memory_format}, {allocator} malloc for all, {args.runs} alternating runs "
          "(img/s: median, range)")
    print()
    print("| program | plain step | associative step | ours / it, plain (paired median) | ours / it, associative |")
    print("|---|---|---|---|---|")
    for name in names:
        e = summary["programs"][name]
        cells = [f"{e[s]['median']:.1f} ({e[s]['min']:.0f}-{e[s]['max']:.0f})" for s in ("plain", "associative")]
        ratios = ["" if name == "AssocConv" else f"{e[s]['ours_over_this_paired_median']:.3f}x" for s in ("plain", "associative")]
        print(f"| {name} | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")


if __name__ == "__main__":
    main()
