#!/usr/bin/env python3
"""An independent PyTorch evaluation of an MNIST state_dict, as fast_adversarial's MNIST/evaluate_mnist.py runs
it (Wong, Rice and Kolter 2020), on the CPU: clean predictions on all 10,000 test images, and PGD (L-inf, eps
0.3, 50 steps of 0.01, 10 random restarts; each step moves only the examples still classified correctly; the
restart with the largest loss kept) on the first N. Reads MNIST's IDX files from advfree's data cache. Prints one
JSON object: clean_accuracy, robust_accuracy, the clean predictions, and the per-example robust flags.

usage: mnist_eval.py MODEL.(pth|safetensors) [--limit 1000] [--data-dir ~/.cache/advfree] [--seed 0] [--threads 2]
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mnist_net():
    # MNIST/mnist_net.py of fast_adversarial, with nn.Flatten for its Flatten module (same state_dict keys).
    return nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10))


def read_idx(path):
    raw = open(path, "rb").read()
    dims = struct.unpack(">" + "I" * raw[3], raw[4:4 + 4 * raw[3]])
    return np.frombuffer(raw[4 + 4 * raw[3]:], dtype=np.uint8).reshape(dims)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    kinds = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype=kinds[h["dtype"]]).reshape(h["shape"]).copy())
    return out


def attack_pgd(model, X, y, epsilon, alpha, iters, restarts, every_example=False):
    """evaluate_mnist.py's PGD: an example already misclassified at a step keeps its point (every_example: all step)."""
    max_loss = torch.zeros(y.shape[0])
    max_delta = torch.zeros_like(X)
    for _ in range(restarts):
        delta = torch.zeros_like(X).uniform_(-epsilon, epsilon)
        delta.data = torch.max(torch.min(delta, 1 - X), 0 - X)
        delta.requires_grad = True
        for _ in range(iters):
            output = model(X + delta)
            index = torch.arange(len(y)) if every_example else torch.where(output.max(1)[1] == y)[0]
            if len(index) == 0:
                break
            loss = F.cross_entropy(output, y)
            loss.backward()
            grad = delta.grad.detach()
            d = torch.clamp(delta + alpha * torch.sign(grad), -epsilon, epsilon)
            d = torch.max(torch.min(d, 1 - X), 0 - X)
            delta.data[index] = d[index]
            delta.grad.zero_()
        all_loss = F.cross_entropy(model(X + delta), y, reduction="none")
        max_delta[all_loss >= max_loss] = delta.detach()[all_loss >= max_loss]
        max_loss = torch.max(max_loss, all_loss)
    return max_delta


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--data-dir", default=os.environ.get("ADVFREE_DATA", os.path.expanduser("~/.cache/advfree")))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = mnist_net()
    state = read_safetensors(a.model) if a.model.endswith(".safetensors") else torch.load(a.model, map_location="cpu")
    model.load_state_dict(state)
    model.eval()
    d = os.path.join(a.data_dir, "mnist")
    X = torch.from_numpy(read_idx(os.path.join(d, "t10k-images-idx3-ubyte")).astype(np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(read_idx(os.path.join(d, "t10k-labels-idx1-ubyte")).astype(np.int64))
    with torch.no_grad():
        clean = torch.cat([model(X[i:i + 1000]).max(1)[1] for i in range(0, len(X), 1000)])
    robust = []
    for i in range(0, a.limit, 100):
        Xb, yb = X[i:min(i + 100, a.limit)], y[i:min(i + 100, a.limit)]
        delta = attack_pgd(model, Xb, yb, 0.3, 0.01, 50, 10)
        with torch.no_grad():
            robust += (model(Xb + delta).max(1)[1] == yb).tolist()
    print(json.dumps({"model": a.model, "clean_accuracy": (clean == y).float().mean().item(), "robust_accuracy": sum(robust) / len(robust),
                      "robust_examples": len(robust), "attack": "PGD-50, step 0.01, 10 restarts, eps 0.3 (evaluate_mnist.py)",
                      "clean_predictions": clean.tolist(), "robust": robust}))


if __name__ == "__main__":
    main()
