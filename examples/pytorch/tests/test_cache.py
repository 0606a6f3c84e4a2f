"""SlidingKVCache against swat_torch.attention over the whole sequence: any chunking of the
sequence through step (and append for a prompt) gives the same outputs."""

import pytest
import torch

import swat_torch
from reference import BOUNDS, dense_attention, error


LENGTH, WINDOW = 23, 5

OPTIONS = {
    "sigmoid-slopes-rope": dict(window=WINDOW, alibi_slopes="balanced", rope="half"),
    "softmax-gqa-interleaved": dict(window=WINDOW, activation="softmax", rope="interleaved", rope_dim=8),
    "window1-bias": dict(window=1, sigmoid_bias=-1.5),
    "unlimited": dict(window=0, alibi_slopes="balanced"),
    "resumed-positions": dict(window=WINDOW, rope="half", k_pos0=1000),
    "spec8": dict(window=WINDOW, activation="softmax", softcap=2.0, sinks=True, rope="half", rope_freqs=True),
}

CHUNKINGS = {
    "ones": [1] * LENGTH,
    "window-edges": [WINDOW - 1, WINDOW, WINDOW + 1, 1, 2, LENGTH - 3 * WINDOW - 3],
    "whole": [LENGTH],
}


def options_for(name, heads, dim):
    options = dict(OPTIONS[name])
    if options.get("alibi_slopes") == "balanced":
        options["alibi_slopes"] = swat_torch.balanced_alibi_slopes(heads)
    if options.pop("sinks", False):
        options["sinks"] = torch.tensor([0.5, -1.0, 2.0, 0.0][:heads])
    if options.pop("rope_freqs", False):
        options["rope_freqs"] = 10000.0 ** (-2 * torch.arange(dim // 2, dtype=torch.float32) / dim) / 4
    return options


def params():
    out = []
    for name in OPTIONS:
        for chunks in CHUNKINGS:
            for dtype in (torch.float32, torch.float64, torch.bfloat16):
                out.append(pytest.param(name, chunks, dtype, id=f"{name}-{chunks}-{str(dtype)[6:]}"))
    return out


@pytest.mark.parametrize("name,chunks,dtype", params())
def test_steps_match_attention_over_the_whole_sequence(name, chunks, dtype):
    batch, heads, kv_heads, dim = 2, 4, 2, 16
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, LENGTH, heads, dim, generator=g, dtype=torch.float64).to(dtype)
    k = torch.randn(batch, LENGTH, kv_heads, dim, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(batch, LENGTH, kv_heads, dim, generator=g, dtype=torch.float64).to(dtype)
    options = options_for(name, heads, dim)
    whole = swat_torch.attention(q, k, v, **options)

    cache = swat_torch.SlidingKVCache(batch, kv_heads, dim, dtype=dtype, **options)
    outputs, first = [], 0
    with torch.no_grad():
        for size in CHUNKINGS[chunks]:
            outputs.append(cache.step(q[:, first : first + size], k[:, first : first + size], v[:, first : first + size]))
            first += size
    assert first == LENGTH and cache.position == LENGTH
    streamed = torch.cat(outputs, dim=1)
    assert streamed.dtype == dtype
    bound = BOUNDS[dtype][0]
    assert error(streamed, whole.to(torch.float64)) <= bound
    assert error(streamed, dense_attention(q, k, v, **options)) <= bound


def test_append_then_step_is_prefill_then_decode():
    batch, heads, kv_heads, dim, prompt = 1, 4, 1, 16, 9
    g = torch.Generator().manual_seed(1)
    q = torch.randn(batch, LENGTH, heads, dim, generator=g)
    k = torch.randn(batch, LENGTH, kv_heads, dim, generator=g)
    v = torch.randn(batch, LENGTH, kv_heads, dim, generator=g)
    options = dict(window=WINDOW, alibi_slopes=swat_torch.balanced_alibi_slopes(heads), rope="half")
    whole = swat_torch.attention(q, k, v, **options)
    cache = swat_torch.SlidingKVCache(batch, kv_heads, dim, **options)
    with torch.no_grad():
        cache.append(k[:, :prompt], v[:, :prompt])
        decoded = [cache.step(q[:, i : i + 1], k[:, i : i + 1], v[:, i : i + 1]) for i in range(prompt, LENGTH)]
    assert error(torch.cat(decoded, dim=1), whole[:, prompt:]) <= BOUNDS[torch.float32][0]


def test_memory_stops_growing_at_the_window():
    heads, dim = 2, 8
    cache = swat_torch.SlidingKVCache(1, heads, dim, window=WINDOW)
    sizes = []
    with torch.no_grad():
        for _ in range(4 * WINDOW):
            x = torch.randn(1, 1, heads, dim)
            cache.step(x, x, x)
            sizes.append(cache.bytes)
    assert sizes[WINDOW - 1 :] == [sizes[-1]] * (len(sizes) - WINDOW + 1)
    assert cache.position == 4 * WINDOW
