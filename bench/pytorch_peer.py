#!/usr/bin/python3
"""The PyTorch peer of 'assocconv bench': the same plain and associative ResNet-56 training steps
(batch 128, SGD momentum 0.9, weight decay 5e-4, synthetic 3x32x32 batches), timed the same way
(medians of interleaved repetitions), with Debian's python3-torch (PyTorch 1.13, CPU).
The models are the reference architectures of tools/make_reference_outputs.py; with --inplace their ReLUs and
residual additions write over the batch-norm outputs, as AssocConv's models do (torchvision's ReLU(inplace=True)).
Like the assocconv command line, it keeps freed memory in glibc's heap (unless --glibc-defaults): a process
training one model alone otherwise gets its activations from fresh, zeroed pages at every step.

    /usr/bin/python3 bench/pytorch_peer.py [--threads 2] [--repetitions 5] [--steps 3] [--memory-format channels-last] [--inplace]
                                           [--glibc-defaults] [--json]
    /usr/bin/python3 bench/pytorch_peer.py --layers     # the 3x3 convolutions of bench/AssocConv.Benchmarks' ConvolutionBenchmark
"""
import argparse
import ctypes
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
    parser.add_argument("--inplace", action="store_true", help="ReLUs and residual additions in place, as AssocConv's models")
    parser.add_argument("--glibc-defaults", action="store_true", help="leave glibc's malloc thresholds as they are")
    parser.add_argument("--layers", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.glibc_defaults:
        keep_freed_memory()
    if args.layers:
        return layers(args)
    if args.inplace:
        reference.CifarBlock.forward = inplace_block_forward
        reference.CifarResNet.forward = inplace_resnet_forward
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
        "inplace": args.inplace,
        "glibc_defaults": args.glibc_defaults,
        "model": "resnet56",
        "train_images_per_s_plain": statistics.median(samples["plain"]),
        "train_images_per_s_associative": statistics.median(samples["associative"]),
        "samples": samples,
    }
    result["train_step_ratio"] = result["train_images_per_s_plain"] / result["train_images_per_s_associative"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"PyTorch {torch.__version__}, {args.threads} threads, {args.memory_format}{', in place' if args.inplace else ''}, ResNet-56, batch {args.batch_size}: "
              f"plain {result['train_images_per_s_plain']:.1f} img/s, associative {result['train_images_per_s_associative']:.1f} img/s, "
              f"associative step {result['train_step_ratio']:.3f}x the plain one")


def keep_freed_memory():
    """What AssocConv's GlibcMalloc.KeepFreedMemory does: mmap threshold at its 32 MiB maximum, no trimming."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    if libc.mallopt(m_mmap_threshold, 32 << 20) != 1 or libc.mallopt(m_trim_threshold, 2**31 - 1) != 1:
        raise OSError("mallopt refused the thresholds")


def inplace_block_forward(self, x):
    """The reference block's forward with relu_ and add_ on the batch-norm outputs (their backward does not need them)."""
    csg = self.csg[0]
    if csg is None:
        y = self.conv_a(x)
    else:
        y = F.conv2d(x, reference.generated(csg, self.code, self.cin, self.planes, 3, self.s), padding=1, stride=self.stride)
    y = self.bn_a(y).relu_()
    if csg is None:
        y = self.conv_b(y)
    else:
        y = F.conv2d(y, reference.generated(csg, self.code2, self.planes, self.planes, 3, self.s), padding=1)
    y = self.bn_b(y)
    r = x if self.downsample is None else self.downsample(x)
    return y.add_(r).relu_()


def inplace_resnet_forward(self, x):
    x = self.bn_1(self.conv_1_3x3(x)).relu_()
    x = self.stage_3(self.stage_2(self.stage_1(x)))
    return self.classifier(F.avg_pool2d(x, 8).view(x.size(0), -1))


def layers(args):
    """One 3x3 convolution per CIFAR ResNet stage, batch 128, forward and both gradients: median ms and GFLOP/s."""
    rows = []
    for channels in (16, 32, 64):
        size = 32 * 16 // channels
        for memory_format in ("contiguous", "channels-last"):
            x = torch.randn(args.batch_size, channels, size, size)
            if memory_format == "channels-last":
                x = x.contiguous(memory_format=torch.channels_last)
            x.requires_grad_(True)
            w = torch.randn(channels, channels, 3, 3, requires_grad=True)
            times = []
            for r in range(3 + 20):
                start = time.perf_counter()
                y = F.conv2d(x, w, padding=1)
                y.backward(torch.ones_like(y))
                x.grad = None
                w.grad = None
                if r >= 3:
                    times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            flops = 3 * 2 * args.batch_size * channels * channels * 9 * size * size
            rows.append({"channels": channels, "size": size, "memory_format": memory_format,
                         "ms": round(seconds * 1e3, 3), "gflops": round(flops / seconds / 1e9, 1)})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['channels']} channels at {r['size']}x{r['size']}, {r['memory_format']}: {r['ms']} ms, {r['gflops']} GFLOP/s")


if __name__ == "__main__":
    main()
