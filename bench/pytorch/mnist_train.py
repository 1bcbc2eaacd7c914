#!/usr/bin/env python3
"""An independent PyTorch re-implementation of the MNIST training runs, to tell advfree's results from the
methods' own behaviour: fast_adversarial's MNIST/train_mnist.py recipe (mnist_net, Adam, learning rate cyclic
0 -> 5e-3 at 2/5 of training -> 0 per iteration, batch 100, eps 0.3) with natural training, FGSM-RS (their
alpha 0.375, a uniform start in the eps ball) or free-m (Shafahi et al.'s Algorithm 1: one perturbation carried
across minibatches, each minibatch replayed m times, each replay's backward pass updating the weights and the
perturbation by eps times the sign of its input gradient) or K-PGD as train_mnist.py runs it (a uniform start, K
signed steps, an example already misclassified at a step keeping its point; --every-example steps them all). Then mnist_eval.py's evaluation (clean on all 10,000,
PGD-50 with 10 restarts on the first N). Prints one JSON object (the evaluation's, plus the training's settings,
time and final training loss/accuracy); writes the state_dict to --out.

With --random-start, free-m draws the perturbation afresh (uniform in the eps ball) for each new minibatch instead
of carrying it: advfree's `--random-start`, a diagnostic departure from Algorithm 1.

usage: mnist_train.py {natural,fgsm-rs,free,pgd} --epochs E [--replays M] [--random-start] [--steps K] [--pgd-step S]
                      [--every-example] [--seed 0] [--limit 1000] [--out model.pth]
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from mnist_eval import attack_pgd, mnist_net, read_idx


def load(data_dir, split):
    d = os.path.join(data_dir, "mnist")
    X = torch.from_numpy(read_idx(os.path.join(d, f"{split}-images-idx3-ubyte")).astype(np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(read_idx(os.path.join(d, f"{split}-labels-idx1-ubyte")).astype(np.int64))
    return X, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method", choices=["natural", "fgsm-rs", "free", "pgd"])
    p.add_argument("--epochs", type=int, required=True, help="passes over the data (free: each minibatch replayed m times)")
    p.add_argument("--replays", type=int, default=4)
    p.add_argument("--random-start", action="store_true", help="free: a fresh uniform perturbation for each new minibatch")
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--alpha", type=float, default=0.375, help="FGSM-RS's step")
    p.add_argument("--steps", type=int, default=10, help="pgd: attack steps K")
    p.add_argument("--pgd-step", type=float, default=0.04, help="pgd: attack step size")
    p.add_argument("--every-example", action="store_true", help="pgd: step every example, also those already misclassified")
    p.add_argument("--lr-max", type=float, default=5e-3)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("ADVFREE_DATA", os.path.expanduser("~/.cache/advfree")))
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    X, y = load(a.data_dir, "train")
    model = mnist_net()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr_max)
    m = a.replays if a.method == "free" else 1
    batches = len(X) // a.batch
    iters = a.epochs * batches * m
    lr_at = lambda t: float(np.interp([t], [0, iters * 2 // 5, iters], [0, a.lr_max, 0])[0])
    delta = torch.zeros(a.batch, 1, 28, 28)
    it, t0 = 0, time.time()
    for _ in range(a.epochs):
        order = torch.randperm(len(X))
        loss_sum = correct = seen = 0
        for b in range(batches):
            idx = order[b * a.batch:(b + 1) * a.batch]
            Xb, yb = X[idx], y[idx]
            if a.method == "free" and a.random_start:
                delta = torch.zeros_like(delta).uniform_(-a.eps, a.eps)
            for _ in range(m):
                if a.method == "fgsm-rs":
                    d = torch.zeros_like(Xb).uniform_(-a.eps, a.eps)
                    d = torch.max(torch.min(1 - Xb, d), 0 - Xb).requires_grad_(True)
                    F.cross_entropy(model(Xb + d), yb).backward()
                    d = torch.clamp(d + a.alpha * torch.sign(d.grad), -a.eps, a.eps)
                    d = torch.max(torch.min(1 - Xb, d), 0 - Xb).detach()
                    xin = torch.clamp(Xb + d, 0, 1)
                elif a.method == "pgd":
                    d = attack_pgd(model, Xb, yb, a.eps, a.pgd_step, a.steps, 1, every_example=a.every_example)
                    xin = torch.clamp(Xb + d, 0, 1)
                elif a.method == "free":
                    delta.requires_grad_(True)
                    xin = torch.clamp(Xb + delta, 0, 1)
                else:
                    xin = Xb
                for g in opt.param_groups:
                    g["lr"] = lr_at(it)
                out = model(xin)
                loss = F.cross_entropy(out, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if a.method == "free":
                    delta = torch.clamp(delta.detach() + a.eps * torch.sign(delta.grad), -a.eps, a.eps)
                loss_sum += loss.item() * len(yb)
                correct += (out.max(1)[1] == yb).sum().item()
                seen += len(yb)
                it += 1
    train_seconds = time.time() - t0
    model.eval()
    if a.out:
        torch.save(model.state_dict(), a.out)
    Xt, yt = load(a.data_dir, "t10k")
    with torch.no_grad():
        clean = torch.cat([model(Xt[i:i + 1000]).max(1)[1] for i in range(0, len(Xt), 1000)])
    robust = []
    for i in range(0, a.limit, 100):
        Xb, yb = Xt[i:min(i + 100, a.limit)], yt[i:min(i + 100, a.limit)]
        d = attack_pgd(model, Xb, yb, a.eps, 0.01, 50, 10)
        with torch.no_grad():
            robust += (model(Xb + d).max(1)[1] == yb).tolist()
    pgd = {"steps": a.steps, "pgd_step": a.pgd_step, "every_example": a.every_example} if a.method == "pgd" else {}
    print(json.dumps({"method": a.method, "epochs": a.epochs, "replays": m, "random_start": a.random_start, **pgd, "seed": a.seed, "iterations": it, "train_seconds": round(train_seconds, 1),
                      "last_epoch_train_loss": loss_sum / seen, "last_epoch_train_accuracy": correct / seen,
                      "clean_accuracy": (clean == yt).float().mean().item(), "robust_accuracy": sum(robust) / len(robust), "robust_examples": len(robust),
                      "attack": f"PGD-50, step 0.01, 10 restarts, eps {a.eps} (evaluate_mnist.py)"}))


if __name__ == "__main__":
    main()
