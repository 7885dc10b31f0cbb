#!/usr/bin/python3
"""Writes small torch.save files that exercise the reader, in both layouts, with the values they must
load to (tests/AssocConv.Tests/Fixtures/torch-save/). Run with Debian's python3-torch:
    /usr/bin/python3 tools/make_torch_save_fixtures.py
"""
import collections
import json
import os
import pickle
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "AssocConv.Tests", "Fixtures", "torch-save")
os.makedirs(OUT, exist_ok=True)

base = torch.arange(24, dtype=torch.float32) / 8 - 1
state = collections.OrderedDict()
state["module.conv.weight"] = base.view(2, 3, 2, 2)                     # contiguous
state["module.half"] = (base[:6] * 3).half()                           # float16
state["module.double"] = base[:5].double() * 1e-3                      # float64
state["module.view"] = base.view(4, 6)[1:3, 2:5]                       # offset and strides, shares the storage
state["module.transposed"] = base.view(4, 6).t()                       # non-contiguous
state["module.CLG.weight"] = base.view(6, 4)
state["module.block.CLG.weight"] = state["module.CLG.weight"]          # the same tensor again
state["module.count"] = torch.tensor(7, dtype=torch.int64)             # a 0-d tensor
wrapped = {"net": state, "acc": 12.5, "epoch": 3}

expected = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                "values": [float(x) for x in v.flatten().tolist()]} for k, v in state.items()}
torch.save(wrapped, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(wrapped, os.path.join(OUT, "zip.pt"))
torch.save(state, os.path.join(OUT, "bare-zip.pt"))
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump({"acc": 12.5, "epoch": 3, "tensors": expected}, f, indent=1)
    f.write("\n")


# a legacy file whose object calls a global outside the allow-list (it is never run by the reader)
class Evil:
    def __reduce__(self):
        return (os.system, ("echo hacked",))


with open(os.path.join(OUT, "forbidden-global.pt"), "wb") as f:
    pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    pickle.dump({"net": Evil()}, f, protocol=2)
    pickle.dump([], f, protocol=2)
