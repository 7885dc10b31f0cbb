#!/usr/bin/python3
"""Writes the embedded sample: the first 8,000 training and 2,000 test images of Fashion-MNIST, as
gzipped IDX files, from Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).

Fashion-MNIST is (c) Zalando SE, MIT licence: https://github.com/zalandoresearch/fashion-mnist
"""
import gzip
import os
import struct

SOURCE = "/usr/share/datasets/fashion-mnist"
TARGET = os.path.join(os.path.dirname(__file__), "..", "src", "AssocConv", "Data", "Sample")


def subset(images, labels, count, prefix):
    with gzip.open(os.path.join(SOURCE, images)) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and n >= count
        pixels = f.read(count * rows * cols)
    with gzip.open(os.path.join(SOURCE, labels)) as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and n >= count
        label_bytes = f.read(count)
    # mtime=0: the same bytes every time the script runs
    with gzip.GzipFile(os.path.join(TARGET, f"{prefix}-images-idx3-ubyte.gz"), "wb", 9, mtime=0) as f:
        f.write(struct.pack(">IIII", 0x803, count, rows, cols) + pixels)
    with gzip.GzipFile(os.path.join(TARGET, f"{prefix}-labels-idx1-ubyte.gz"), "wb", 9, mtime=0) as f:
        f.write(struct.pack(">II", 0x801, count) + label_bytes)


os.makedirs(TARGET, exist_ok=True)
subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 8000, "train")
subset("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 2000, "t10k")
