"""swat_torch.attention against what a PyTorch user has on CPU without it: dense masked attention
(every score formed, O(n^2) memory) and a banded loop over 64-row query blocks (each block's
scores against the keys of its window only). Forward and forward+backward, SWAT's sigmoid with
balanced ALiBi slopes, in float32, at the paper's 340M layer shape and at D 128 w 1024.

    python3 bench.py                   # both shapes, PyTorch's thread count
    python3 bench.py --quick           # n 1024, one repeat: a smoke run

GFLOP/s count SPEC section 5's work for every method (forward 4*D*visible, backward
10*D*visible, visible = the (query, key) pairs inside the window), so the dense method's
figure is the useful work it does, not the work it spends.
"""

import argparse
import time

import torch

import swat_torch

BLOCK = 64  # query rows per step of the banded loop


def dense(q, k, v, window, slopes):
    """[B, n, H, D] -> [B, n, H, D]: all n x n scores, masked outside the window."""
    n = q.shape[1]
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, n, D]
    distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    visible = (distance >= 0) & (distance < window)
    s = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5 - slopes[:, None, None] * distance
    a = torch.sigmoid(s) * visible
    return (a @ v).transpose(1, 2)


def banded(q, k, v, window, slopes):
    """The same, 64 query rows at a time, each against the keys of its window only."""
    n = q.shape[1]
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    out = []
    for first in range(0, n, BLOCK):
        last = min(first + BLOCK, n)
        lo = max(0, first - window + 1)
        distance = torch.arange(first, last)[:, None] - torch.arange(lo, last)[None, :]
        visible = (distance >= 0) & (distance < window)
        s = q[:, :, first:last] @ k[:, :, lo:last].transpose(-1, -2) * q.shape[-1] ** -0.5
        s = s - slopes[:, None, None] * distance
        out.append((torch.sigmoid(s) * visible) @ v[:, :, lo:last])
    return torch.cat(out, dim=2).transpose(1, 2)


def swat(q, k, v, window, slopes):
    return swat_torch.attention(q, k, v, window=window, activation="sigmoid", alibi_slopes=slopes)


def seconds(run, repeats):
    run()  # warm-up (allocations, thread pools)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def visible_pairs(batch, heads, n, window):
    return batch * heads * sum(min(i + 1, window) for i in range(n))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4096, help="sequence length")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (the best is shown)")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    parser.add_argument("--skip-dense", action="store_true", help="leave out dense attention (O(n^2) memory)")
    parser.add_argument("--quick", action="store_true", help="n 1024, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 1024, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    # (heads, D, window): the paper's 340M layer (d_model 1024 = 16 heads of 64) and D 128.
    shapes = [(16, 64, 256), (8, 128, 1024)]
    methods = [("swat", swat), ("banded loop", banded)] + ([] if args.skip_dense else [("dense masked", dense)])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), swat path {swat_torch.best_isa()}, "
          f"float32, batch 1, n {args.n}, best of {args.repeats}")  # fmt: skip
    header = f"{'shape':<22} {'method':<13} {'fwd ms':>9} {'GFLOP/s':>8} {'fwd+bwd ms':>11} {'GFLOP/s':>8} {'max |o - swat|':>15}"
    print(header)
    print("-" * len(header))
    g = torch.Generator().manual_seed(0)
    for heads, dim, window in shapes:
        q, k, v = (torch.randn(1, args.n, heads, dim, generator=g) for _ in range(3))
        slopes = swat_torch.balanced_alibi_slopes(heads)
        visible = visible_pairs(1, heads, args.n, window)
        upstream = torch.randn(1, args.n, heads, dim, generator=g)
        reference = swat(q, k, v, window, slopes)
        for name, method in methods:
            with torch.no_grad():
                forward = seconds(lambda: method(q, k, v, window, slopes), args.repeats)
                difference = (method(q, k, v, window, slopes) - reference).abs().max().item()
            inputs = [t.clone().requires_grad_() for t in (q, k, v)]
            learned = slopes.clone().requires_grad_()

            def both():
                for t in inputs + [learned]:
                    t.grad = None
                method(*inputs, window, learned).backward(upstream)

            total = seconds(both, args.repeats)
            shape = f"H {heads} D {dim} w {window}"
            print(f"{shape:<22} {name:<13} {forward * 1e3:9.1f} {4 * dim * visible / forward / 1e9:8.1f} "
                  f"{total * 1e3:11.1f} {14 * dim * visible / total / 1e9:8.1f} {difference:15.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
