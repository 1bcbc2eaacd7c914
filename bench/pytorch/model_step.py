"""One natural training step of a registered model in PyTorch's own CPU backend, timed: the peer of `advfree bench
--suites models` (PyTorch is not a dependency). The layers are those of advfree's nn/models/ (mnist-net: Wong et
al.'s MNIST CNN; mlp-WIDTHxDEPTH: Linear+ReLU layers; wrn-DEPTH-WIDTH: bench/pytorch/wrn_step.py's WideResNet);
the step is the bench's natural step: forward, cross-entropy, gradients of every weight (not of the input), an SGD
update with momentum 0.9 and weight decay 5e-4. Prints one JSON object on stdout.

    python3 bench/pytorch/model_step.py --model mnist-net --input 1,28,28 --classes 10 --batch 100 --threads 2
"""
import argparse
import json
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_step import WideResNet, timed_step  # noqa: E402


def mnist_net(classes):
    return nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, classes))


def mlp(width, depth, features, classes):
    layers = [nn.Flatten()]
    for i in range(depth):
        layers += [nn.Linear(features if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, classes))


def build(name, shape, classes):
    if name == "mnist-net":
        return mnist_net(classes)
    m = re.fullmatch(r"mlp-(\d+)x(\d+)", name)
    if m:
        features = 1
        for d in shape:
            features *= d
        return mlp(int(m.group(1)), int(m.group(2)), features, classes)
    m = re.fullmatch(r"wrn-(\d+)-(\d+)", name)
    if m and (int(m.group(1)) - 4) % 6 == 0 and shape[0] == 3:
        return WideResNet(int(m.group(1)), int(m.group(2)), classes)
    sys.exit(f"model_step.py: --model must be mnist-net, mlp-WIDTHxDEPTH or wrn-DEPTH-WIDTH (3-channel input), got {name} on {shape}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, help="one example's shape, e.g. 1,28,28 or 16")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    shape = [int(d) for d in a.input.split(",")]
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = build(a.model, shape, a.classes).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(a.batch, *shape)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    print(json.dumps(timed_step(step, a.warmup, a.reps)))


if __name__ == "__main__":
    main()
