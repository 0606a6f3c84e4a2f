"""Every bad input raises ValueError carrying swat's message (argument, expected, got), and
nothing is written: the cache is unchanged after a refused step."""

import pytest
import torch

import swat_torch
from reference import dense_attention, error


def tensors(batch=1, length=6, heads=4, kv_heads=2, dim=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, length, heads, dim, generator=g).to(dtype)
    k = torch.randn(batch, length, kv_heads, dim, generator=g).to(dtype)
    v = torch.randn(batch, length, kv_heads, dim, generator=g).to(dtype)
    return q, k, v


q, k, v = tensors()

BAD_CALLS = {
    "q not 4-d": (lambda: swat_torch.attention(q[0], k, v), r"q: expected a 4-d tensor"),
    "k not 4-d": (lambda: swat_torch.attention(q, k[0], v), r"k: expected a 4-d tensor"),
    "int dtype": (lambda: swat_torch.attention(q.int(), k.int(), v.int()), r"q\.dtype: expected float32, float64 or bfloat16"),
    "float16 dtype": (lambda: swat_torch.attention(q.half(), k.half(), v.half()), r"q\.dtype: expected"),
    "mixed dtypes": (lambda: swat_torch.attention(q, k.double(), v), r"k\.dtype: expected Float"),
    "batch mismatch": (lambda: swat_torch.attention(q, *tensors(batch=2)[1:]), r"k\.shape\[0\] \(batch\): expected 1"),
    "v seq mismatch": (lambda: swat_torch.attention(q, k, v[:, :5]), r"v\.shape\[1\]"),
    "heads not a multiple": (lambda: swat_torch.attention(q, *tensors(kv_heads=3)[1:]), r"heads"),
    "dim mismatch": (lambda: swat_torch.attention(q, *tensors(dim=4)[1:]), r"k\.shape\[3\] \(dim\)"),
    "negative window": (lambda: swat_torch.attention(q, k, v, window=-1), r"window: expected >= 0.*got -1"),
    "activation": (lambda: swat_torch.attention(q, k, v, activation="relu"), r"activation: expected 'sigmoid' or 'softmax', got 'relu'"),
    "rope layout": (lambda: swat_torch.attention(q, k, v, rope="full"), r"rope: expected 'none', 'half' or 'interleaved', got 'full'"),
    "odd rope_dim": (lambda: swat_torch.attention(q, k, v, rope="half", rope_dim=3), r"rope_dim: expected an even value"),
    "rope_dim above D": (lambda: swat_torch.attention(q, k, v, rope="half", rope_dim=16), r"rope_dim: expected .*got 16"),
    "rope_dim beyond int": (lambda: swat_torch.attention(q, k, v, rope="half", rope_dim=2**40), r"rope_dim"),
    "rope_base": (lambda: swat_torch.attention(q, k, v, rope="half", rope_base=0.0), r"rope_base: expected a finite value > 0"),
    "slopes count": (lambda: swat_torch.attention(q, k, v, alibi_slopes=[0.5, 0.25]), r"alibi_slopes: expected 4 .*got 2"),
    "slopes 2-d": (lambda: swat_torch.attention(q, k, v, alibi_slopes=torch.ones(2, 2)), r"alibi_slopes: expected a 1-d tensor"),
    "slopes not numbers": (lambda: swat_torch.attention(q, k, v, alibi_slopes=["a"] * 4), r"alibi_slopes: expected None, a 1-d"),
    "slopes not finite": (
        lambda: swat_torch.attention(q, k, v, alibi_slopes=[0.5, float("nan"), 0.5, 0.5]),
        r"alibi_slopes\[1\]: expected a finite value",
    ),
    "scale not finite": (lambda: swat_torch.attention(q, k, v, scale=float("inf")), r"scale"),
    "scale beyond float": (lambda: swat_torch.attention(q, k, v, scale=1e300), r"scale: expected a value within float's range, got 1e\+300"),
    "k_pos0 overflow": (lambda: swat_torch.attention(q, k, v, k_pos0=2**62), r"k_pos0: expected positions within"),
    "q_pos0 overflow": (lambda: swat_torch.attention(q, k, v, q_pos0=-(2**62)), r"q_pos0: expected positions within"),
    "negative softcap": (lambda: swat_torch.attention(q, k, v, softcap=-1.0), r"softcap"),
    "sinks with sigmoid": (lambda: swat_torch.attention(q, k, v, sinks=[0.0] * 4), r"sinks"),
    "sinks count": (lambda: swat_torch.attention(q, k, v, activation="softmax", sinks=[0.0] * 3), r"sinks"),
    "rope_freqs without rope": (lambda: swat_torch.attention(q, k, v, rope_freqs=[1.0] * 4), r"rope_freqs"),
    "rope_freqs count": (lambda: swat_torch.attention(q, k, v, rope="half", rope_freqs=[1.0] * 3), r"rope_freqs"),
    "rope_freqs requiring grad": (
        lambda: swat_torch.attention(q, k, v, rope="half", rope_freqs=torch.ones(4, requires_grad=True)),
        r"rope_freqs: expected a tensor that does not require grad",
    ),
    "varlen offsets not from 0": (lambda: swat_torch.attention_varlen(q[0], k[0], v[0], [1, 6]), r"cu_seqlens\[0\]: expected 0, got 1"),
    "varlen offsets decreasing": (lambda: swat_torch.attention_varlen(q[0], k[0], v[0], [0, 4, 3, 6]), r"cu_seqlens\[2\]: expected non-decreasing"),
    "varlen offsets short": (lambda: swat_torch.attention_varlen(q[0], k[0], v[0], [0, 5]), r"cu_seqlens\[1\]: expected the packed length 6"),
    "varlen batch 2": (lambda: swat_torch.attention_varlen(*tensors(batch=2), [0, 6]), r"q\.shape\[0\] \(batch\): expected 1"),
    "varlen ranks mixed": (lambda: swat_torch.attention_varlen(q[0], k, v, [0, 6]), r"q, k, v: expected all"),
    "backward dout shape": (lambda: torch.ops.swat.backward(q, k, v, q, q[:, :5]), r"dout\.shape\[1\] \(seq\)"),
    "backward o dtype": (lambda: torch.ops.swat.backward(q, k, v, q.double(), q), r"o\.dtype"),
    "slopes helper heads": (lambda: swat_torch.balanced_alibi_slopes(0), r"heads: expected a value in \[1"),
    "slopes helper scheme": (lambda: swat_torch.balanced_alibi_slopes(4, "mine"), r"scheme: expected 'paper' or 'released_code'"),
}

# The library refuses every SPEC 8 option until its kernels compute them: until then these
# inputs fail for that reason, which still names the argument.
SPEC8 = {"negative softcap", "sinks with sigmoid", "sinks count", "rope_freqs without rope", "rope_freqs count"}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_input_raises_value_error_with_swats_message(name):
    call, message = BAD_CALLS[name]
    with pytest.raises(ValueError, match=message) as caught:
        call()
    text = str(caught.value)
    assert text.startswith("swat: "), text
    assert "expected" in text, text
    # No C++ backtrace or dispatcher noise in front of the message.
    assert "Exception raised from" not in text, text


def cache_options():
    return dict(window=3, alibi_slopes=swat_torch.balanced_alibi_slopes(4), rope="half")


BAD_CACHES = {
    "dtype": (lambda: swat_torch.SlidingKVCache(1, 2, 8, dtype=torch.float16), r"dtype: expected torch\.float32"),
    "batch": (lambda: swat_torch.SlidingKVCache(0, 2, 8), r"batch: expected >= 1, got 0"),
    "kv_heads": (lambda: swat_torch.SlidingKVCache(1, 0, 8), r"kv_heads: expected >= 1, got 0"),
    "slopes not a multiple": (lambda: swat_torch.SlidingKVCache(1, 2, 8, alibi_slopes=[0.5] * 3), r"alibi_slopes"),
    "window": (lambda: swat_torch.SlidingKVCache(1, 2, 8, window=-2), r"window"),
    "activation": (lambda: swat_torch.SlidingKVCache(1, 2, 8, activation="tanh"), r"activation"),
}


@pytest.mark.parametrize("name", list(BAD_CACHES))
def test_bad_cache_options_raise_value_error(name):
    make, message = BAD_CACHES[name]
    with pytest.raises(ValueError, match=message) as caught:
        make()
    assert str(caught.value).startswith("swat: ")


BAD_STEPS = {
    "q dtype": (lambda q, k, v: (q.double(), k, v), r"q\.dtype: expected Float \(the cache's dtype\)"),
    "k dtype": (lambda q, k, v: (q, k.double(), v), r"k\.dtype"),
    "batch": (lambda q, k, v: (q.expand(2, -1, -1, -1), k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1)), r"batch"),
    "heads vs slopes": (lambda q, k, v: (q[:, :, :2], k, v), r"q\.shape\[2\] \(heads\): expected 4"),
    "kv heads": (lambda q, k, v: (q, k[:, :, :1], v[:, :, :1]), r"k\.shape\[2\] \(heads\): expected 2"),
    "k length": (lambda q, k, v: (q, k[:, :1], v[:, :1]), r"k\.shape\[1\] \(seq\)"),
    "dim": (lambda q, k, v: (q[..., :4], k[..., :4], v[..., :4]), r"dim"),
    "3-d": (lambda q, k, v: (q[0], k[0], v[0]), r"q: expected a 4-d tensor"),
    "requires grad": (lambda q, k, v: (q.clone().requires_grad_(), k, v), r"q: expected a tensor that does not require grad"),
}


@pytest.mark.parametrize("name", list(BAD_STEPS))
def test_bad_step_raises_and_leaves_the_cache_as_it_was(name):
    q, k, v = tensors(length=4)
    options = cache_options()
    cache = swat_torch.SlidingKVCache(1, 2, 8, **options)
    with torch.no_grad():
        cache.step(q[:, :2], k[:, :2], v[:, :2])
    before = cache.position
    bad_q, bad_k, bad_v = BAD_STEPS[name][0](q[:, 2:], k[:, 2:], v[:, 2:])
    with pytest.raises(ValueError, match=BAD_STEPS[name][1]):
        cache.step(bad_q, bad_k, bad_v)
    assert cache.position == before
    # The cache goes on as if the bad step never came.
    with torch.no_grad():
        o = cache.step(q[:, 2:], k[:, 2:], v[:, 2:])
    assert error(o, dense_attention(q, k, v, **options)[:, 2:]) <= 2e-5


def test_bad_append_raises_and_leaves_the_cache_as_it_was():
    q, k, v = tensors(length=4)
    cache = swat_torch.SlidingKVCache(1, 2, 8, **cache_options())
    with pytest.raises(ValueError, match=r"k\.shape\[2\] \(heads\): expected 2"):
        cache.append(k[:, :, :1], v[:, :, :1])
    with pytest.raises(ValueError, match=r"v"):
        cache.append(k, v[:, :3])
    assert cache.position == 0
