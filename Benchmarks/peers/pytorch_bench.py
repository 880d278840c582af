#!/usr/bin/env python3
"""PyTorch peers of Tandem's standard workloads W1-W4 (shared/WORKLOADS.md).

The same models with exactly the same trainable-parameter counts (asserted), the same inputs
(uniform random, fixed seed), and the same throughput method as `tandem bench`: warm up, then time
training steps (forward, summed task losses, backward, optimizer step, loss.item()) and report the
median. Prints the same table columns as `tandem bench`, plus the process's peak RSS.

    python3 Benchmarks/peers/pytorch_bench.py                      # CPU, every workload
    python3 Benchmarks/peers/pytorch_bench.py --devices cpu,cuda   # CUDA fp32 with TF32 off
    python3 Benchmarks/peers/pytorch_bench.py --workloads lenet-hps --steps 50 --json out.json

Needs only `torch` (pip install torch).
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PARAMETERS = {"mmoe-synth": 14_834, "lenet-hps": 27_450, "lenet-crossstitch": 49_100, "mtan-segnet": 2_778_907}
BATCH = {"mmoe-synth": 256, "lenet-hps": 256, "lenet-crossstitch": 256, "mtan-segnet": 8}


# W1: MMoE, 8 experts Linear(100->16)+ReLU as one batched matmul, a softmax gate and a tower per task.
class MMoE(nn.Module):
    def __init__(self, inputs=100, experts=8, units=16, tasks=2):
        super().__init__()
        bound = 1 / inputs ** 0.5
        self.expert_weight = nn.Parameter(torch.empty(experts, units, inputs).uniform_(-bound, bound))
        self.expert_bias = nn.Parameter(torch.empty(experts, units).uniform_(-bound, bound))
        self.gates = nn.ModuleList(nn.Linear(inputs, experts) for _ in range(tasks))
        self.towers = nn.ModuleList(nn.Sequential(nn.Linear(units, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in range(tasks))

    def forward(self, x):
        hidden = F.relu(torch.einsum("ni,ehi->neh", x, self.expert_weight) + self.expert_bias)  # [N, E, h]
        outs = []
        for gate, tower in zip(self.gates, self.towers):
            g = F.softmax(gate(x), dim=-1)  # [N, E]
            mixture = torch.bmm(g.unsqueeze(1), hidden).squeeze(1)  # [N, h]
            outs.append(tower(mixture).squeeze(-1))
        return outs


# W2/W3: the LeNet trunk in three stages and the task heads.
def lenet_stages():
    return nn.ModuleList([
        nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Flatten(), nn.Linear(320, 50), nn.ReLU()),
    ])


def lenet_head():
    return nn.Sequential(nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 10))


class LeNetHPS(nn.Module):
    def __init__(self, tasks=2):
        super().__init__()
        self.trunk = nn.Sequential(*lenet_stages())
        self.heads = nn.ModuleList(lenet_head() for _ in range(tasks))

    def forward(self, x):
        z = self.trunk(x)
        return [head(z) for head in self.heads]


class CrossStitch(nn.Module):
    """x~ = alpha_c [x1; x2] per channel, alpha [C, T, T] initialised 0.9 / 0.1."""

    def __init__(self, channels, tasks=2):
        super().__init__()
        alpha = torch.full((channels, tasks, tasks), 0.1)
        for t in range(tasks):
            alpha[:, t, t] = 0.9
        self.alpha = nn.Parameter(alpha)

    def forward(self, xs):
        x = torch.stack(xs)  # [T, N, C, ...]
        shape = x.shape
        x = x.reshape(shape[0], shape[1], shape[2], -1)
        y = torch.einsum("cts,sncp->tncp", self.alpha, x).reshape(shape)
        return list(y.unbind(0))


class LeNetCrossStitch(nn.Module):
    def __init__(self, tasks=2):
        super().__init__()
        self.columns = nn.ModuleList(lenet_stages() for _ in range(tasks))
        self.stitches = nn.ModuleList(CrossStitch(c, tasks) for c in (10, 20, 50))
        self.heads = nn.ModuleList(lenet_head() for _ in range(tasks))

    def forward(self, x):
        xs = [x for _ in self.columns]
        for s, stitch in enumerate(self.stitches):
            xs = stitch([column[s](h) for column, h in zip(self.columns, xs)])
        return [head(h) for head, h in zip(self.heads, xs)]


# W4: SegNet-MTAN (structure of the authors' model_segnet_mtan.py) at widths [16, 32, 64, 128, 128].
def conv_layer(a, b):
    return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))


def att_layer(a, b, c):
    return nn.Sequential(nn.Conv2d(a, b, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                         nn.Conv2d(b, c, 1), nn.BatchNorm2d(c), nn.Sigmoid())


class SegNetMTAN(nn.Module):
    def __init__(self, f=(16, 32, 64, 128, 128), classes=7, tasks=3):
        super().__init__()
        self.encoder_block = nn.ModuleList(conv_layer(3 if j == 0 else f[j - 1], f[j]) for j in range(5))
        self.conv_block_enc = nn.ModuleList(
            conv_layer(f[j], f[j]) if j < 2 else nn.Sequential(conv_layer(f[j], f[j]), conv_layer(f[j], f[j])) for j in range(5))
        self.encoder_att = nn.ModuleList(
            nn.ModuleList(att_layer(f[0] if j == 0 else 2 * f[j], f[j], f[j]) for j in range(5)) for _ in range(tasks))
        self.encoder_block_att = nn.ModuleList(conv_layer(f[j], f[j + 1] if j < 4 else f[j]) for j in range(5))
        self.decoder_block = nn.ModuleList(conv_layer(f[0], f[0]) if k == 0 else conv_layer(f[k], f[k - 1]) for k in range(5))
        self.conv_block_dec = nn.ModuleList(
            conv_layer(f[0], f[0]) if k < 2 else nn.Sequential(conv_layer(f[k - 1], f[k - 1]), conv_layer(f[k - 1], f[k - 1]))
            for k in range(5))
        self.decoder_att = nn.ModuleList(
            nn.ModuleList(att_layer(2 * f[0] if k == 0 else f[k] + f[k - 1], f[max(k - 1, 0)], f[max(k - 1, 0)]) for k in range(5))
            for _ in range(tasks))
        self.decoder_block_att = nn.ModuleList(
            conv_layer(f[0], f[0]) if k == 0 else (conv_layer(f[k], f[k - 1]) if k < 4 else conv_layer(f[4], f[4])) for k in range(5))
        self.heads = nn.ModuleList(nn.Sequential(nn.Conv2d(f[0], f[0], 3, padding=1), nn.Conv2d(f[0], out, 1)) for out in (classes, 1, 3))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        u, p, indices = [], [], []
        h = x
        for j in range(5):
            uj = self.encoder_block[j](h)
            pj = self.conv_block_enc[j](uj)
            h, idx = F.max_pool2d(pj, 2, return_indices=True)
            u.append(uj); p.append(pj); indices.append(idx)
        upsampled, decoded = [], []
        current = h
        for i in range(5):
            k = 4 - i
            up = F.max_unpool2d(current, indices[k], 2, output_size=p[k].shape[2:])
            d = self.conv_block_dec[k](self.decoder_block[k](up))
            upsampled.append(up); decoded.append(d)
            current = d
        outputs = []
        for t in range(len(self.encoder_att)):
            prev = None
            for j in range(5):
                inp = u[j] if prev is None else torch.cat([u[j], prev], dim=1)
                gated = self.encoder_att[t][j](inp) * p[j]
                prev = F.max_pool2d(self.encoder_block_att[j](gated), 2)
            for i in range(5):
                k = 4 - i
                up = self.decoder_block_att[k](F.interpolate(prev, scale_factor=2, mode="bilinear", align_corners=True))
                prev = self.decoder_att[t][k](torch.cat([upsampled[i], up], dim=1)) * decoded[i]
            outputs.append(prev)
        seg = F.log_softmax(self.heads[0](outputs[0]), dim=1)
        depth = self.heads[1](outputs[1])
        normal = F.normalize(self.heads[2](outputs[2]), p=2, dim=1)
        return [seg, depth, normal]


def make(name, batch, device, generator):
    def uniform(*shape):
        return torch.rand(*shape, generator=generator).to(device)

    if name == "mmoe-synth":
        model = MMoE()
        x = uniform(batch, 100)
        targets = [uniform(batch), uniform(batch)]
        losses = [F.mse_loss, F.mse_loss]
        opt = lambda params: torch.optim.Adam(params, lr=1e-3)
    elif name in ("lenet-hps", "lenet-crossstitch"):
        model = LeNetHPS() if name == "lenet-hps" else LeNetCrossStitch()
        x = uniform(batch, 1, 28, 28)
        targets = [torch.randint(0, 10, (batch,), generator=generator).to(device) for _ in range(2)]
        losses = [F.cross_entropy, F.cross_entropy]
        opt = lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9)
    else:
        model = SegNetMTAN()
        x = uniform(batch, 3, 64, 64)
        labels = torch.randint(0, 7, (batch, 64, 64), generator=generator).to(device)
        depth = uniform(batch, 1, 64, 64)
        normals = F.normalize(uniform(batch, 3, 64, 64), dim=1)
        targets = [labels, depth, normals]

        def depth_loss(pred, target):
            valid = (target != 0).float()
            return ((pred - target).abs() * valid).sum() / valid.sum().clamp(min=1)

        def normal_loss(pred, target):
            return 1 - (pred * target).sum(dim=1).mean()

        losses = [lambda p, t: F.nll_loss(p, t, ignore_index=-1), depth_loss, normal_loss]
        opt = lambda params: torch.optim.Adam(params, lr=1e-4)
    model = model.to(device)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert count == PARAMETERS[name], f"{name}: {count} parameters, expected {PARAMETERS[name]}"
    return model, opt(model.parameters()), x, targets, losses, count


def gemm_peak(device, n=512, repeats=7):
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    torch.mm(a, b)
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(name, device, batch, warmup, steps):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model, optimizer, x, targets, losses, count = make(name, batch, device, generator)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        outputs = model(x)
        total = sum(loss(o, t) for loss, o, t in zip(losses, outputs, targets))
        total.backward()
        optimizer.step()
        return total.item()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"workload": name, "device": device, "batch": batch, "median_ms": median * 1e3, "min_ms": min(times) * 1e3,
            "max_ms": max(times) * 1e3, "samples_per_second": batch / median, "parameters": count}


def peak_rss_bytes():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(PARAMETERS))
    parser.add_argument("--devices", default=None, help="comma-separated: cpu, cuda (default: cpu, and cuda when available)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's own)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # fp32 everywhere: no TF32 on CUDA, so the comparison with Tandem's fp32 GEMMs is fair.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    names = args.workloads.split(",")
    results = []
    peaks = {d: gemm_peak(d) for d in devices}
    for name in names:
        for device in devices:
            batch = args.batch or BATCH[name]
            print(f"bench {name} (batch {batch}) on {device} ...", file=sys.stderr, flush=True)
            results.append(run(name, device, batch, args.warmup, args.steps))
    header = ["workload", "device", "batch", "median ms", "min–max ms", "samples/s", "vs cpu", "parameters"]
    rows = []
    for r in results:
        cpu = next((c for c in results if c["workload"] == r["workload"] and c["device"] == "cpu" and c["batch"] == r["batch"]), None)
        rows.append([r["workload"], r["device"], str(r["batch"]), f"{r['median_ms']:.2f}",
                     f"{r['min_ms']:.2f}–{r['max_ms']:.2f}", f"{r['samples_per_second']:.0f}",
                     f"{cpu['median_ms'] / r['median_ms']:.2f}×" if cpu else "-", str(r["parameters"])])
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for d in devices:
        name = torch.cuda.get_device_name() if d.startswith("cuda") else "CPU"
        print(f"{d}: {name}, GEMM peak {peaks[d]:.1f} GFLOP/s")
    rss = peak_rss_bytes()
    print(f"peak RSS of this process: {rss / 2**20:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": args.steps, "warmup": args.warmup, "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "peak_rss_bytes": rss, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
