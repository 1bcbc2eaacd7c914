"""One WideResNet training step in PyTorch's own CPU backend, timed: the peer the bench compares our WebGPU step
with where PyTorch is installed (it is not a dependency). The network has the layout of advfree's nn/wrn.ts (the
reference pre-activation WRN without dropout); the step is the bench's: forward, gradients for the input and every
weight, an SGD update with momentum 0.9 and weight decay 5e-4. Prints one JSON object on stdout.

    python3 bench/pytorch/wrn_step.py --arch wrn-16-1 --batch 64 --image 32 --reps 5 --warmup 2
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    def __init__(self, depth, k, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks = []
        for g in range(3):
            for i in range(n):
                cin = widths[g] if i == 0 else widths[g + 1]
                blocks.append(Block(cin, widths[g + 1], (1 if g == 0 else 2) if i == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], classes)

    def forward(self, x):
        h = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def timed_step(step, warmup, reps):
    """Runs step() warmup times, then times it reps times: the JSON object both step scripts print."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "wall_ms": statistics.median(times), "times_ms": times}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="wrn-16-1")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--image", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    m = re.fullmatch(r"wrn-(\d+)-(\d+)", a.arch)
    if not m or (int(m.group(1)) - 4) % 6:
        sys.exit(f"wrn_step.py: --arch must be wrn-DEPTH-WIDTH with DEPTH = 6n+4, got {a.arch}")
    torch.manual_seed(a.seed)
    # Every core, as our engine gets (a distribution build may default to one thread).
    torch.set_num_threads(os.cpu_count() or 1)
    model = WideResNet(int(m.group(1)), int(m.group(2))).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(a.batch, 3, a.image, a.image)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        xg = x.clone().requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xg), y)
        loss.backward()
        opt.step()
        return xg.grad

    print(json.dumps(timed_step(step, a.warmup, a.reps)))


if __name__ == "__main__":
    main()
