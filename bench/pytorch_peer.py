#!/usr/bin/python3
"""The PyTorch peer of 'assocconv bench': the same plain and associative ResNet-56 training steps
(batch 128, SGD momentum 0.9, weight decay 5e-4, synthetic 3x32x32 batches), timed the same way
(medians of interleaved repetitions), with Debian's python3-torch (PyTorch 1.13, CPU).
The models are the reference architectures of tools/make_reference_outputs.py.

    /usr/bin/python3 bench/pytorch_peer.py [--threads 2] [--repetitions 5] [--steps 3] [--json]
"""
import argparse
import importlib.util
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

spec = importlib.util.spec_from_file_location(
    "reference_models", os.path.join(os.path.dirname(__file__), "..", "tools", "make_reference_outputs.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)
torch.set_default_dtype(torch.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--memory-format", choices=["contiguous", "channels-last"], default="contiguous")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    models = {
        "plain": reference.CifarResNet(56),
        "associative": reference.CifarResNet(56, [12, 12, 3, 3], 72),
    }
    for m in models.values():
        m.float().train()
        for name, p in m.named_parameters():
            if "code" in name:
                torch.nn.init.normal_(p, 0.001, 1.0)
            elif p.dim() > 1:
                torch.nn.init.kaiming_normal_(p)
    x = torch.randn(args.batch_size, 3, 32, 32)
    if args.memory_format == "channels-last":
        for m in models.values():
            m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,))
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4) for k, m in models.items()}

    def step(k):
        optimizers[k].zero_grad()
        F.cross_entropy(models[k](x), y).backward()
        optimizers[k].step()

    def rate(k):
        start = time.perf_counter()
        for _ in range(args.steps):
            step(k)
        return args.steps * args.batch_size / (time.perf_counter() - start)

    for k in models:
        step(k)
        step(k)
    samples = {k: [] for k in models}
    for r in range(args.repetitions):
        order = ["plain", "associative"] if r % 2 == 0 else ["associative", "plain"]
        for k in order:
            samples[k].append(rate(k))
    result = {
        "framework": f"PyTorch {torch.__version__}",
        "threads": args.threads,
        "memory_format": args.memory_format,
        "model": "resnet56",
        "train_images_per_s_plain": statistics.median(samples["plain"]),
        "train_images_per_s_associative": statistics.median(samples["associative"]),
        "samples": samples,
    }
    result["train_step_ratio"] = result["train_images_per_s_plain"] / result["train_images_per_s_associative"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"PyTorch {torch.__version__}, {args.threads} threads, {args.memory_format}, ResNet-56, batch {args.batch_size}: "
              f"plain {result['train_images_per_s_plain']:.1f} img/s, associative {result['train_images_per_s_associative']:.1f} img/s, "
              f"associative step {result['train_step_ratio']:.3f}x the plain one")


if __name__ == "__main__":
    main()
