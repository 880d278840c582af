"""The mmoe-synth experiment of the README in PyTorch: MMoE (W1) against the one-layer shared bottom.

Same recipe as `tandem train --model mmoe-synth|shared-bottom --data mmoe-synth --limit 60000`
(Adam, batch 256, correlation 0.5, 10,000 test samples); the data follow WORKLOADS.md but come from
NumPy's generator, so single runs differ from Tandem's while averages over seeds are comparable.

    python3 mmoe_synth.py mmoe|shared-bottom [--samples 60000] [--epochs 150] [--lr 1e-3] [--seed 0]
"""
import argparse
import math

import numpy as np
import torch


def make_data(count, correlation, weight_seed, sample_seed):
    rng = np.random.default_rng(weight_seed)
    u1, u2 = rng.standard_normal(100), rng.standard_normal(100)
    u1 /= np.linalg.norm(u1)
    u2 -= u1.dot(u2) * u1
    u2 /= np.linalg.norm(u2)
    w1, w2 = u1, correlation * u1 + math.sqrt(1 - correlation ** 2) * u2
    rng = np.random.default_rng(sample_seed)
    x = rng.standard_normal((count, 100))

    def target(s):
        return s + sum(np.sin(k * s + (k - 1) ** 2) for k in range(1, 11))

    y1 = target(x @ w1) + 0.01 * rng.standard_normal(count)
    y2 = target(x @ w2) + 0.01 * rng.standard_normal(count)
    return [torch.tensor(v, dtype=torch.float32) for v in (x, y1, y2)]


def tower(width):
    return torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


class MMoE(torch.nn.Module):
    """8 experts Linear(100→16)+ReLU, a softmax gate per task, towers 16→8→1: 14,834 parameters."""

    def __init__(self, experts=8, units=16):
        super().__init__()
        self.experts = torch.nn.ModuleList([torch.nn.Linear(100, units) for _ in range(experts)])
        self.gates = torch.nn.ModuleList([torch.nn.Linear(100, experts) for _ in range(2)])
        self.towers = torch.nn.ModuleList([tower(units) for _ in range(2)])

    def forward(self, x):
        hidden = torch.stack([torch.relu(e(x)) for e in self.experts], 1)
        return [t((torch.softmax(g(x), -1).unsqueeze(-1) * hidden).sum(1)).squeeze(-1)
                for g, t in zip(self.gates, self.towers)]


class SharedBottom(torch.nn.Module):
    """Linear(100→126)+ReLU shared, towers 126→8→1: 14,776 parameters."""

    def __init__(self, hidden=126):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(100, hidden), torch.nn.ReLU())
        self.towers = torch.nn.ModuleList([tower(hidden) for _ in range(2)])

    def forward(self, x):
        z = self.trunk(x)
        return [t(z).squeeze(-1) for t in self.towers]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["mmoe", "shared-bottom"])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    x, y1, y2 = make_data(args.samples, 0.5, args.seed, args.seed + 1000)
    xt, t1, t2 = make_data(10000, 0.5, args.seed, args.seed + 2000)
    model = MMoE() if args.model == "mmoe" else SharedBottom()
    print(f"{args.model}: {sum(p.numel() for p in model.parameters())} parameters")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    order = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        permutation = torch.randperm(args.samples, generator=order)
        for start in range(0, args.samples, 256):
            batch = permutation[start:start + 256]
            out = model(x[batch])
            loss = ((out[0] - y1[batch]) ** 2).mean() + ((out[1] - y2[batch]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 10 == 0 or epoch == args.epochs:
            with torch.no_grad():
                out = model(xt)
                m1, m2 = float(((out[0] - t1) ** 2).mean()), float(((out[1] - t2) ** 2).mean())
            print(f"epoch {epoch}: test mse task1 {m1:.4f} task2 {m2:.4f} mean {(m1 + m2) / 2:.4f}", flush=True)


if __name__ == "__main__":
    main()
