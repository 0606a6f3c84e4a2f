"""A small SWAT language model trained with DistributedDataParallel (gloo, loopback only).

    python3 train_ddp.py               # 2 processes on 127.0.0.1
    python3 train_ddp.py --procs 1     # the same model and data, one process, no torch.distributed

Characters of a text the script builds itself (sentences from a small seeded grammar; nothing
is downloaded) go through an embedding, a few blocks of SWAT attention (sigmoid, balanced
ALiBi slopes that are learned, RoPE, sliding window) with an MLP, and a head tied to the
embedding. It prints the loss falling, whether every rank ends with the same parameters, and
tokens/s; it exits non-zero if the loss did not fall or the ranks disagree.
"""

import argparse
import math
import os
import random
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

import swat_torch


def build_text(characters, seed=0):
    """Sentences from a small grammar: structure a model can learn in a few hundred steps."""
    rng = random.Random(seed)
    nouns = ["cat", "dog", "bird", "fox", "owl", "horse", "child", "farmer", "river", "stone"]
    verbs = ["sees", "follows", "finds", "likes", "watches", "hears", "carries", "meets"]
    adjectives = ["small", "old", "quick", "quiet", "brown", "clever", "tired", "bright"]
    places = ["by the river", "in the wood", "on the hill", "near the farm", "at dawn", "after the rain"]
    parts = []
    while sum(len(p) for p in parts) < characters:
        subject = f"the {rng.choice(adjectives)} {rng.choice(nouns)}"
        obj = f"the {rng.choice(adjectives)} {rng.choice(nouns)}"
        sentence = f"{subject} {rng.choice(verbs)} {obj}"
        if rng.random() < 0.5:
            sentence += " " + rng.choice(places)
        parts.append(sentence + ". ")
    return "".join(parts)[:characters]


class Block(nn.Module):
    def __init__(self, width, heads, window):
        super().__init__()
        self.heads, self.window = heads, window
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        # SWAT's balanced slopes (half the heads favour recent tokens, half older ones), learned.
        self.slopes = nn.Parameter(swat_torch.balanced_alibi_slopes(heads))

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, width // self.heads).unbind(2)
        # q, k, v are strided views into the projection's output; swat reads them in place.
        attended = swat_torch.attention(
            q, k, v, window=self.window, activation="sigmoid", alibi_slopes=self.slopes, rope="half",
            sigmoid_bias=-math.log(self.window),
        )  # fmt: skip
        x = x + self.out(attended.reshape(batch, length, width))
        return x + self.mlp(self.norm2(x))


class SwatLM(nn.Module):
    def __init__(self, vocabulary, width, heads, layers, window):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)
        # Rows of norm about 1: the tied head then starts with logits of unit scale.
        nn.init.normal_(self.embedding.weight, std=width**-0.5)
        self.blocks = nn.ModuleList(Block(width, heads, window) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens):
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.embedding.weight.t()  # head tied to the embedding


def batches(data, length, batch, seed):
    """Random windows of the text, a different stream per rank."""
    g = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, data.numel() - length - 1, (batch,), generator=g)
        window = torch.stack([data[s : s + length + 1] for s in starts.tolist()])
        yield window[:, :-1], window[:, 1:]


def train(rank, world, args, port):
    distributed = world > 1
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if distributed:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)

    text = build_text(args.characters)
    alphabet = sorted(set(text))
    data = torch.tensor([alphabet.index(c) for c in text], dtype=torch.long)
    torch.manual_seed(0)  # the same initial model on every rank (DDP also broadcasts rank 0's)
    model = SwatLM(len(alphabet), args.width, args.heads, args.layers, args.window)
    trained = nn.parallel.DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.AdamW(trained.parameters(), lr=args.lr, weight_decay=0.0)
    stream = batches(data, args.length, args.batch, seed=1000 + rank)

    def mean_over_ranks(value):
        value = torch.tensor([value], dtype=torch.float64)
        if distributed:
            dist.all_reduce(value)
            value /= world
        return value.item()

    losses = []
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        inputs, targets = next(stream)
        loss = F.cross_entropy(trained(inputs).reshape(-1, len(alphabet)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(mean_over_ranks(loss.item()))
        if rank == 0 and (step == 1 or step % args.every == 0 or step == args.steps):
            print(f"step {step:4d}  loss {losses[-1]:.3f}", flush=True)
    seconds = time.perf_counter() - start
    tokens = args.steps * args.batch * args.length * world

    # Every rank's parameters, flattened, compared with rank 0's.
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    difference = 0.0
    if distributed:
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        difference = max((g - gathered[0]).abs().max().item() for g in gathered)
    ok = True
    if rank == 0:
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        print(f"loss: {first:.3f} (mean of the first 5 steps) -> {last:.3f} (last 5); uniform guess {math.log(len(alphabet)):.3f}")
        if distributed:
            print(f"ranks' parameters identical after training: {difference == 0.0} (max |difference| {difference:g}, {flat.numel()} values, {world} ranks)")
        slopes = [round(v, 3) for v in model.blocks[0].slopes.detach().tolist()]
        print(f"block 0 slopes: {slopes} (from {swat_torch.balanced_alibi_slopes(args.heads).tolist()})")
        print(f"{tokens / seconds:,.0f} tokens/s ({world} process{'es' if world > 1 else ''}, {torch.get_num_threads()} thread(s) each, "
              f"swat path {swat_torch.best_isa()}, {seconds:.1f} s)")  # fmt: skip
        ok = last < first - args.min_drop and difference == 0.0
    if distributed:
        dist.destroy_process_group()
    if not ok:
        raise SystemExit(1)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", type=int, default=2, help="processes (1: no torch.distributed)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=20, help="print the loss every this many steps")
    parser.add_argument("--batch", type=int, default=8, help="sequences per process and step")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--characters", type=int, default=200_000)
    parser.add_argument("--min-drop", type=float, default=0.5, help="fail unless the loss falls by this much")
    args = parser.parse_args()
    if args.procs == 1:
        train(0, 1, args, None)
    else:
        mp.spawn(train, args=(args.procs, args, free_port()), nprocs=args.procs, join=True)


if __name__ == "__main__":
    main()
