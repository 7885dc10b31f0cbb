#!/usr/bin/python3
"""Writes tests/AssocConv.Tests/Fixtures/reference-outputs.json: the outputs of the reference
architectures, as PyTorch computes them, for weights and inputs every side can rebuild from a formula.

Each model below is written from the authors' reference implementation (hamedomidvar/associativeconv):
the same layers, the same state-dict names, an associative convolution computed as
CSG(code).view(ceil(out/S)*S, ceil(in/S)*S, kh, kw)[:out, :in, :k, :k]. The C# test fills its own
models with the same formula, runs the same input in float64 and compares the logits and the names.

Run with Debian's python3-torch (PyTorch 1.13, CPU):  /usr/bin/python3 tools/make_reference_outputs.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


# --- the fill formula (mirrored by tests/AssocConv.Tests/Models/ReferenceOutputsTests.cs) ---------
def pattern(count, salt):
    """count values in [-1, 1): a Weyl sequence scrambled by one multiply, exact in IEEE doubles."""
    i = np.arange(1, count + 1, dtype=np.float64)
    u = i * 0.6180339887498949 + salt * 0.7548776662466927
    u = u - np.floor(u)
    u = u * 997.0
    u = u - np.floor(u)
    return 2.0 * u - 1.0


def fill(model):
    """Every state-dict entry, in ordinal key order, from pattern(numel, index)."""
    state = model.state_dict()
    for index, key in enumerate(sorted(state.keys())):
        t = state[key]
        if key.endswith("num_batches_tracked"):
            continue
        v = pattern(t.numel(), index)
        name = key.rsplit(".", 1)[-1]
        if name == "running_var":
            v = 1.0 + 0.5 * v * v
        elif name == "running_mean" or (t.dim() == 1 and name == "bias"):
            v = 0.1 * v
        elif t.dim() == 1:                          # batch-norm weight
            v = 1.0 + 0.2 * v
        elif name.startswith("code"):
            v = 0.05 * v
        else:                                       # conv [out, in, kh, kw], linear and CSG [out, in]
            fan_in = int(np.prod(t.shape[1:]))
            v = math.sqrt(3.0 / fan_in) * v
        with torch.no_grad():
            t.copy_(torch.from_numpy(v).view(t.shape))


def sample_input(shape):
    return torch.from_numpy(pattern(int(np.prod(shape)), 1000)).view(shape)


# --- associative convolution, the reference's rule -----------------------------------------------
def slices(cin, cout, s):
    return math.ceil(cin / s[0]) * math.ceil(cout / s[1])


def generated(csg, code, cin, cout, k, s):
    w = csg(code).view(math.ceil(cout / s[0]) * s[0], math.ceil(cin / s[1]) * s[1], s[2], s[3])
    return w[:cout, :cin, :k, :k]


# --- CIFAR ResNet (option-A shortcut) -------------------------------------------------------------
class DownsampleA(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.avg = nn.AvgPool2d(kernel_size=1, stride=stride)

    def forward(self, x):
        x = self.avg(x)
        return torch.cat((x, x.mul(0)), 1)


class CifarBlock(nn.Module):
    def __init__(self, cin, planes, stride, csg, s, code_size):
        super().__init__()
        self.csg, self.s, self.cin, self.planes, self.stride = [csg], s, cin, planes, stride
        if csg is None:
            self.conv_a = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        else:
            self.code = nn.Parameter(torch.zeros(slices(cin, planes, s), code_size))
        self.bn_a = nn.BatchNorm2d(planes)
        if csg is None:
            self.conv_b = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        else:
            self.code2 = nn.Parameter(torch.zeros(slices(planes, planes, s), code_size))
        self.bn_b = nn.BatchNorm2d(planes)
        self.downsample = DownsampleA(stride) if stride != 1 or cin != planes else None

    def forward(self, x):
        csg = self.csg[0]
        if csg is None:
            y = self.conv_a(x)
        else:
            y = F.conv2d(x, generated(csg, self.code, self.cin, self.planes, 3, self.s), padding=1, stride=self.stride)
        y = F.relu(self.bn_a(y))
        if csg is None:
            y = self.conv_b(y)
        else:
            y = F.conv2d(y, generated(csg, self.code2, self.planes, self.planes, 3, self.s), padding=1)
        y = self.bn_b(y)
        r = x if self.downsample is None else self.downsample(x)
        return F.relu(r + y)


class CifarResNet(nn.Module):
    def __init__(self, depth, s=None, code_size=None):
        super().__init__()
        n = (depth - 2) // 6
        self.CSG = None if s is None else nn.Linear(code_size, int(np.prod(s)), bias=False)
        self.conv_1_3x3 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], 1):
            blocks = []
            for i in range(n):
                blocks.append(CifarBlock(cin, planes, stride if i == 0 else 1, self.CSG, s, code_size))
                cin = planes
            setattr(self, f"stage_{stage}", nn.Sequential(*blocks))
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        x = F.avg_pool2d(x, 8).view(x.size(0), -1)
        return self.classifier(x)


# --- DenseNet-BC ----------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, cin, growth, csg, s, code_size):
        super().__init__()
        self.csg, self.s, self.growth = [csg], s, growth
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        if csg is None:
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)
        else:
            self.code2 = nn.Parameter(torch.zeros(slices(4 * growth, growth, s), code_size))

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = F.relu(self.bn2(y))
        csg = self.csg[0]
        if csg is None:
            y = self.conv2(y)
        else:
            y = F.conv2d(y, generated(csg, self.code2, 4 * self.growth, self.growth, 3, self.s), padding=1)
        return torch.cat([y, x], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout, last=False):
        super().__init__()
        self.last = last
        self.bn = nn.BatchNorm2d(cin)
        if not last:
            self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        y = F.relu(self.bn(x))
        return F.avg_pool2d(y, 8) if self.last else F.avg_pool2d(self.conv(y), 2)


class DenseNetBC(nn.Module):
    def __init__(self, depth, growth, s=None, code_size=None):
        super().__init__()
        n = (depth - 4) // 6
        planes = 2 * growth
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        self.CSG = None if s is None else nn.Linear(code_size, int(np.prod(s)), bias=False)
        for d in (1, 2, 3):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(planes, growth, self.CSG, s, code_size))
                planes += growth
            setattr(self, f"dense{d}", nn.Sequential(*layers))
            out = int(math.floor(planes * 0.5))
            setattr(self, f"trans{d}", Transition(planes, out, last=(d == 3)))
            if d < 3:
                planes = out
        self.linear = nn.Linear(planes, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = self.trans1(self.dense1(x))
        x = self.trans2(self.dense2(x))
        x = self.trans3(self.dense3(x))
        return self.linear(x.view(x.size(0), -1))


# --- MobileNetV2 (CIFAR) --------------------------------------------------------------------------
class MobileBlock(nn.Module):
    def __init__(self, cin, cout, expansion, stride, csg, s, code_size):
        super().__init__()
        self.csg, self.s, self.stride, self.cin = [csg], s, stride, cin
        planes = expansion * cin
        self.planes = planes
        if csg is None:
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        else:
            self.code1 = nn.Parameter(torch.zeros(slices(cin, planes, s), code_size))
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        csg = self.csg[0]
        y = self.conv1(x) if csg is None else F.conv2d(x, generated(csg, self.code1, self.cin, self.planes, 1, self.s))
        y = F.relu(self.bn1(y))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return y + self.shortcut(x) if self.stride == 1 else y


class MobileNetV2(nn.Module):
    cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, s=None, code_size=None):
        super().__init__()
        self.CSG = None if s is None else nn.Linear(code_size, int(np.prod(s)), bias=False)
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, cin = [], 32
        for expansion, cout, count, stride in self.cfg:
            for i in range(count):
                layers.append(MobileBlock(cin, cout, expansion, stride if i == 0 else 1, self.CSG, s, code_size))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.avg_pool2d(x, 4).view(x.size(0), -1)
        return self.linear(x)


# --- ShuffleNetV2 (net size 0.5, CIFAR) -----------------------------------------------------------
def shuffle(x):
    n, c, h, w = x.size()
    return x.view(n, 2, c // 2, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


class ShuffleBasic(nn.Module):
    def __init__(self, channels):
        super().__init__()
        c = channels // 2
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x):
        c = int(x.size(1) * 0.5)
        x1, x2 = x[:, :c], x[:, c:]
        y = F.relu(self.bn1(self.conv1(x2)))
        y = self.bn2(self.conv2(y))
        y = F.relu(self.bn3(self.conv3(y)))
        return shuffle(torch.cat([x1, y], 1))


class ShuffleDown(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        mid = cout // 2
        self.conv1 = nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x):
        a = self.bn1(self.conv1(x))
        a = F.relu(self.bn2(self.conv2(a)))
        b = F.relu(self.bn3(self.conv3(x)))
        b = self.bn4(self.conv4(b))
        b = F.relu(self.bn5(self.conv5(b)))
        return shuffle(torch.cat([a, b], 1))


class ShuffleNetV2(nn.Module):
    def __init__(self, s=None, code_size=None):
        super().__init__()
        self.s = s
        self.CSG = None if s is None else nn.Linear(code_size, int(np.prod(s)), bias=False)
        self.conv1 = nn.Conv2d(3, 24, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        for i, (cout, n) in enumerate([(48, 3), (96, 7), (192, 3)], 1):
            setattr(self, f"layer{i}", nn.Sequential(ShuffleDown(cin, cout), *[ShuffleBasic(cout) for _ in range(n)]))
            cin = cout
        if s is None:
            self.conv2 = nn.Conv2d(192, 1024, 1, bias=False)
        else:
            self.code2 = nn.Parameter(torch.zeros(slices(192, 1024, s), code_size))
        self.bn2 = nn.BatchNorm2d(1024)
        self.linear = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.conv2(x) if self.s is None else F.conv2d(x, generated(self.CSG, self.code2, 192, 1024, 1, self.s))
        x = F.relu(self.bn2(x))
        x = F.avg_pool2d(x, 4).view(x.size(0), -1)
        return self.linear(x)


# --- ImageNet ResNet-18 (first 3x3 generated) and -50 (bottleneck 3x3 generated) ------------------
class ImageNetBasic(nn.Module):
    def __init__(self, cin, planes, stride, csg, s, code_size):
        super().__init__()
        self.csg, self.s, self.cin, self.planes, self.stride = [csg], s, cin, planes, stride
        if csg is None:
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        else:
            self.code1 = nn.Parameter(torch.zeros(slices(cin, planes, s), code_size))
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        csg = self.csg[0]
        y = self.conv1(x) if csg is None else F.conv2d(
            x, generated(csg, self.code1, self.cin, self.planes, 3, self.s), padding=1, stride=self.stride)
        y = F.relu(self.bn1(y))
        y = self.bn2(self.conv2(y))
        r = x if self.downsample is None else self.downsample(x)
        return F.relu(y + r)


class ImageNetBottleneck(nn.Module):
    def __init__(self, cin, planes, stride, csg, s, code_size):
        super().__init__()
        self.csg, self.s, self.planes, self.stride = [csg], s, planes, stride
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        if csg is None:
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        else:
            self.code2 = nn.Parameter(torch.zeros(slices(planes, planes, s), code_size))
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        csg = self.csg[0]
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.conv2(y) if csg is None else F.conv2d(
            y, generated(csg, self.code2, self.planes, self.planes, 3, self.s), padding=1, stride=self.stride)
        y = F.relu(self.bn2(y))
        y = self.bn3(self.conv3(y))
        r = x if self.downsample is None else self.downsample(x)
        return F.relu(y + r)


class ImageNetResNet(nn.Module):
    def __init__(self, depth, s=None, code_size=None, classes=1000):
        super().__init__()
        block, counts, expansion = {18: (ImageNetBasic, [2, 2, 2, 2], 1), 50: (ImageNetBottleneck, [3, 4, 6, 3], 4)}[depth]
        self.CSG = None if s is None else nn.Linear(code_size, int(np.prod(s)), bias=False)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (planes, n, stride) in enumerate(zip([64, 128, 256, 512], counts, [1, 2, 2, 2]), 1):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, planes, stride if b == 0 else 1, self.CSG, s, code_size))
                cin = planes * expansion
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512 * expansion, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


CASES = [
    ("resnet20", "12x12x3x3", 72, lambda s, c: CifarResNet(20, s, c), 32),
    ("resnet20", None, None, lambda s, c: CifarResNet(20), 32),
    ("resnet20", "16x16x3x3", 72, lambda s, c: CifarResNet(20, s, c), 32),
    ("densenet-bc-40-12", "12x12x3x3", 72, lambda s, c: DenseNetBC(40, 12, s, c), 32),
    ("densenet-bc-40-12", None, None, lambda s, c: DenseNetBC(40, 12), 32),
    ("mobilenetv2", "16x16x1x1", 16, lambda s, c: MobileNetV2(s, c), 32),
    ("shufflenetv2", "16x16x1x1", 16, lambda s, c: ShuffleNetV2(s, c), 32),
    # 10 classes keep the fixture small; the architecture is the same
    ("imagenet-resnet18", "16x16x3x3", 128, lambda s, c: ImageNetResNet(18, s, c, classes=10), 64),
    ("imagenet-resnet50", "16x16x3x3", 128, lambda s, c: ImageNetResNet(50, s, c, classes=10), 64),
]


def main():
    out = []
    for name, slice_text, code_size, build, size in CASES:
        s = None if slice_text is None else [int(v) for v in slice_text.split("x")]
        model = build(s, code_size).eval()
        fill(model)
        x = sample_input((2, 3, size, size))
        with torch.no_grad():
            y = model(x)
        out.append({
            "model": name,
            "slice": slice_text,
            "code_size": code_size,
            "input": [2, 3, size, size],
            "state_dict": {k: "x".join(str(d) for d in v.shape) for k, v in sorted(model.state_dict().items())},
            "logits": [float(v) for v in y.flatten()],
        })
        print(name, slice_text, y.abs().max().item())
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "AssocConv.Tests", "Fixtures", "reference-outputs.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generator": "tools/make_reference_outputs.py", "torch": torch.__version__, "cases": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
