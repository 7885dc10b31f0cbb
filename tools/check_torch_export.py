#!/usr/bin/python3
"""Checks files written by 'assocconv export' with PyTorch itself (Debian's python3-torch):
torch.load, load_state_dict(strict=True) into ResNet-20 classes registered the way the reference
registers them (the generator under every block), and accuracy on the CIFAR-10 test set.

    /usr/bin/python3 tools/check_torch_export.py EXPORT.pt MATERIALIZED.pt CIFAR10_BIN_DIR [SLICE CODE]
"""
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, planes, stride, csg, s, code):
        super().__init__()
        self.stride, self.cin, self.planes, self.s = stride, cin, planes, s
        if csg is None:
            self.conv_a = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.conv_b = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        else:
            self.CSG = csg   # registered here too, as in the reference
            self.code = nn.Parameter(torch.zeros(math.ceil(cin / s) * math.ceil(planes / s), code))
            self.code2 = nn.Parameter(torch.zeros(math.ceil(planes / s) ** 2, code))
        self.bn_a = nn.BatchNorm2d(planes)
        self.bn_b = nn.BatchNorm2d(planes)
        self.down = stride != 1 or cin != planes

    def kernel(self, code, cin, cout):
        s = self.s
        return self.CSG(code).view(math.ceil(cout / s) * s, math.ceil(cin / s) * s, 3, 3)[:cout, :cin]

    def forward(self, x):
        if hasattr(self, "CSG"):
            y = F.conv2d(x, self.kernel(self.code, self.cin, self.planes), padding=1, stride=self.stride)
        else:
            y = self.conv_a(x)
        y = F.relu(self.bn_a(y))
        y = F.conv2d(y, self.kernel(self.code2, self.planes, self.planes), padding=1) if hasattr(self, "CSG") else self.conv_b(y)
        y = self.bn_b(y)
        r = x
        if self.down:
            r = x[:, :, ::2, ::2]
            r = torch.cat((r, r.mul(0)), 1)
        return F.relu(r + y)


class ResNet20(nn.Module):
    def __init__(self, s=None, code=None):
        super().__init__()
        self.CSG = None if s is None else nn.Linear(code, s * s * 9, bias=False)
        self.conv_1_3x3 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(16)
        cin = 16
        for i, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], 1):
            blocks = []
            for b in range(3):
                blocks.append(Block(cin, planes, stride if b == 0 else 1, self.CSG, s, code))
                cin = planes
            setattr(self, f"stage_{i}", nn.Sequential(*blocks))
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return self.classifier(F.avg_pool2d(x, 8).flatten(1))


def accuracy(model, folder):
    raw = np.fromfile(f"{folder}/test_batch.bin", dtype=np.uint8).reshape(-1, 3073)
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    x = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
    x = (x - mean) / std
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            correct += (model(x[i:i + 500]).argmax(1) == labels[i:i + 500]).sum().item()
    return 100.0 * correct / len(x)


def main():
    export, materialized, folder = sys.argv[1:4]
    s, code = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (16, 72)
    associative = ResNet20(s, code)
    associative.load_state_dict(torch.load(export), strict=True)
    print(f"{export}: strict load into the reference-style associative ResNet-20: accuracy {accuracy(associative, folder):.2f}%")
    plain = ResNet20()
    plain.load_state_dict(torch.load(materialized), strict=True)
    print(f"{materialized}: strict load into the plain ResNet-20: accuracy {accuracy(plain, folder):.2f}%")


if __name__ == "__main__":
    main()
