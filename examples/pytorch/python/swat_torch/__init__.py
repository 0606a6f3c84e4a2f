"""swat_torch: swat's sliding-window attention kernels as PyTorch CPU ops, with autograd.

    o = swat_torch.attention(q, k, v, window=256, alibi_slopes=slopes, rope="half")

q is [B, Sq, H, D]; k and v are [B, Sk, Hkv, D] (H a multiple of Hkv: MHA, GQA, MQA); any
strides (the kernels read the tensors' own memory, no copy); float32, float64 or bfloat16.
The options are swat::Options (SPEC sections 2 and 8); gradients flow to q, k, v and to
`alibi_slopes` and `sinks` when they are tensors that require grad. Calls use PyTorch's
intra-op thread count (torch.set_num_threads). Bad input raises ValueError with swat's
message, before anything is written.

The ops themselves are torch.ops.swat.{forward, backward, forward_varlen, backward_varlen};
the streaming cache is torch.classes.swat.SlidingKVCache, wrapped by SlidingKVCache here.
"""

import glob
import os

import torch

__all__ = [
    "attention",
    "attention_varlen",
    "SlidingKVCache",
    "alibi_slopes",
    "balanced_alibi_slopes",
    "best_isa",
]


def _load_library():
    # SWAT_TORCH_LIBRARY names the library explicitly; otherwise it sits next to this file,
    # where the CMake build, `cmake --install` and pip all put it.
    path = os.environ.get("SWAT_TORCH_LIBRARY")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        found = sorted(glob.glob(os.path.join(here, "_swat_ops*.so")) + glob.glob(os.path.join(here, "_swat_ops*.dylib")))
        if not found:
            raise ImportError(
                "swat_torch: the compiled ops (_swat_ops.so) are not next to " + here + "; build them with "
                "`cmake -S examples/pytorch -B build-torch && cmake --build build-torch` or `pip install ./examples/pytorch`"
            )
        path = found[0]
    torch.ops.load_library(path)


_load_library()
_ops = torch.ops.swat


def _values(x, name):
    """A per-head (or per-pair) parameter: None, a 1-d tensor (kept, so that it can get a
    gradient), or a sequence of numbers."""
    if x is None or isinstance(x, torch.Tensor):
        return x
    try:
        return torch.tensor([float(value) for value in x], dtype=torch.float32)
    except (TypeError, ValueError):
        raise ValueError(f"swat: {name}: expected None, a 1-d tensor or a sequence of numbers, got {x!r}") from None


def _options(window, activation, scale, sigmoid_bias, rope, rope_base, rope_dim, softcap, k_pos0, q_pos0):
    """The non-tensor keyword arguments of the ops; None means the library's default."""
    return dict(
        window=int(window),
        activation=str(activation),
        scale=0.0 if scale is None else float(scale),
        sigmoid_bias=float(sigmoid_bias),
        rope="none" if rope is None else str(rope),
        rope_base=float(rope_base),
        rope_dim=0 if rope_dim is None else int(rope_dim),
        softcap=float(softcap),
        k_pos0=int(k_pos0),
        q_pos0=None if q_pos0 is None else int(q_pos0),
    )


def _constant(freqs):
    if freqs is not None and freqs.requires_grad and torch.is_grad_enabled():
        raise ValueError("swat: rope_freqs: expected a tensor that does not require grad (they get no gradient), got one that does")
    return freqs


class _Attention(torch.autograd.Function):
    """forward and backward of one call, whole sequences (cu_seqlens None) or packed ones."""

    @staticmethod
    def forward(ctx, q, k, v, slopes, sinks, freqs, cu_seqlens, options):
        tensors = dict(alibi_slopes=slopes, sinks=sinks, rope_freqs=freqs)
        if cu_seqlens is None:
            o = _ops.forward(q, k, v, **tensors, **options)
        else:
            o = _ops.forward_varlen(q, k, v, cu_seqlens, **tensors, **options)
        ctx.save_for_backward(q, k, v, o, slopes, sinks, freqs)
        ctx.cu_seqlens = cu_seqlens
        ctx.options = options
        return o

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        q, k, v, o, slopes, sinks, freqs = ctx.saved_tensors
        need = ctx.needs_input_grad
        slopes_grad = slopes is not None and need[3]
        sinks_grad = sinks is not None and need[4]
        tensors = dict(alibi_slopes=slopes, sinks=sinks, rope_freqs=freqs, slopes_grad=slopes_grad, sinks_grad=sinks_grad)
        if ctx.cu_seqlens is None:
            dq, dk, dv, dslopes, dsinks = _ops.backward(q, k, v, o, dout, **tensors, **ctx.options)
        else:
            dq, dk, dv, dslopes, dsinks = _ops.backward_varlen(q, k, v, o, dout, ctx.cu_seqlens, **tensors, **ctx.options)
        return (
            dq if need[0] else None,
            dk if need[1] else None,
            dv if need[2] else None,
            dslopes.to(slopes.dtype) if slopes_grad else None,
            dsinks.to(sinks.dtype) if sinks_grad else None,
            None,
            None,
            None,
        )


def attention(
    q,
    k,
    v,
    *,
    window=0,
    activation="sigmoid",
    scale=None,
    sigmoid_bias=0.0,
    alibi_slopes=None,
    rope=None,
    rope_base=10000.0,
    rope_dim=None,
    rope_freqs=None,
    softcap=0.0,
    sinks=None,
    k_pos0=0,
    q_pos0=None,
):
    """Sliding-window attention (SPEC sections 2 and 8), differentiable.

    q [B, Sq, H, D]; k, v [B, Sk, Hkv, D]; returns o [B, Sq, H, D] (contiguous, q's dtype).
    window: key j is visible to query i iff 0 <= p_i - p_j < window; 0 = unlimited causal.
    activation: "sigmoid" (SWAT) or "softmax". scale: None = 1/sqrt(D). sigmoid_bias: beta.
    alibi_slopes: H slopes (tensor or sequence; > 0 favours recent keys). rope: None, "half"
    or "interleaved"; rope_base, rope_dim (None = D) or rope_freqs (rope_dim/2 inverse
    frequencies). softcap: c > 0 caps the content term at c * tanh(. / c). sinks: H sink
    logits (softmax only). k_pos0, q_pos0: absolute positions of the first key and query
    (q_pos0 None = k_pos0 + Sk - Sq). The backward of bfloat16 inputs runs in float32 (the
    library has no bf16 backward) and rounds the gradients to bfloat16.
    """
    options = _options(window, activation, scale, sigmoid_bias, rope, rope_base, rope_dim, softcap, k_pos0, q_pos0)
    slopes, sink_logits = _values(alibi_slopes, "alibi_slopes"), _values(sinks, "sinks")
    freqs = _constant(_values(rope_freqs, "rope_freqs"))
    return _Attention.apply(q, k, v, slopes, sink_logits, freqs, None, options)


def attention_varlen(
    q,
    k,
    v,
    cu_seqlens,
    *,
    window=0,
    activation="sigmoid",
    scale=None,
    sigmoid_bias=0.0,
    alibi_slopes=None,
    rope=None,
    rope_base=10000.0,
    rope_dim=None,
    rope_freqs=None,
    softcap=0.0,
    sinks=None,
    k_pos0=0,
):
    """attention over packed sequences (FlashAttention's varlen layout), differentiable.

    q [total, H, D] and k, v [total, Hkv, D] (or the same with a leading batch of 1) hold the
    sequences back to back; cu_seqlens (a tensor or sequence of S + 1 offsets, from 0 to
    total) delimits them. Each sequence attends to itself only, its positions starting at
    k_pos0. The options are attention's.
    """
    if isinstance(cu_seqlens, torch.Tensor):
        cu_seqlens = cu_seqlens.tolist()
    offsets = [int(offset) for offset in cu_seqlens]
    options = _options(window, activation, scale, sigmoid_bias, rope, rope_base, rope_dim, softcap, k_pos0, None)
    slopes, sink_logits = _values(alibi_slopes, "alibi_slopes"), _values(sinks, "sinks")
    freqs = _constant(_values(rope_freqs, "rope_freqs"))
    packed = [isinstance(t, torch.Tensor) and t.dim() == 3 for t in (q, k, v)]
    if all(packed):
        q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
    elif any(packed):
        raise ValueError(
            "swat: q, k, v: expected all [total, heads, dim] or all [1, total, heads, dim], got "
            f"{[tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (q, k, v)]}"
        )
    o = _Attention.apply(q, k, v, slopes, sink_logits, freqs, offsets, options)
    return o.squeeze(0) if all(packed) else o


_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16"}


class SlidingKVCache:
    """Streaming inference over a sliding window (swat::SlidingKVCache): per (batch, kv head)
    the cache keeps the keys (rotated by RoPE) and values of the last `window` positions.

        cache = SlidingKVCache(B, Hkv, D, window=4096, alibi_slopes=slopes, rope="half")
        o = cache.step(q, k, v)  # q [B, t, H, D], k and v [B, t, Hkv, D] -> o [B, t, H, D]

    Feeding a sequence through step in chunks of any sizes gives what attention gives over the
    whole sequence. append(k, v) keeps a prompt's keys and values without attending (after
    attention over the prompt, the fastest prefill). Inputs and outputs have the cache's dtype;
    positions start at k_pos0. Inference only: no autograd.
    """

    def __init__(
        self,
        batch,
        kv_heads,
        head_dim,
        *,
        dtype=torch.float32,
        window=0,
        activation="sigmoid",
        scale=None,
        sigmoid_bias=0.0,
        alibi_slopes=None,
        rope=None,
        rope_base=10000.0,
        rope_dim=None,
        rope_freqs=None,
        softcap=0.0,
        sinks=None,
        k_pos0=0,
    ):
        if dtype not in _DTYPES:
            raise ValueError(f"swat: dtype: expected torch.float32, torch.float64 or torch.bfloat16, got {dtype}")
        o = _options(window, activation, scale, sigmoid_bias, rope, rope_base, rope_dim, softcap, k_pos0, None)
        self.dtype = dtype
        self._cache = torch.classes.swat.SlidingKVCache(
            int(batch), int(kv_heads), int(head_dim), _DTYPES[dtype],
            o["window"], o["activation"], o["scale"], o["sigmoid_bias"], _values(alibi_slopes, "alibi_slopes"),
            o["rope"], o["rope_base"], o["rope_dim"], _values(rope_freqs, "rope_freqs"), o["softcap"],
            _values(sinks, "sinks"), o["k_pos0"], None,
        )  # fmt: skip

    @staticmethod
    def _no_grad(tensors, names):
        if torch.is_grad_enabled():
            for t, name in zip(tensors, names):
                if isinstance(t, torch.Tensor) and t.requires_grad:
                    raise ValueError(
                        f"swat: {name}: expected a tensor that does not require grad (the cache is for inference; "
                        "call it under torch.no_grad()), got one that does"
                    )

    def step(self, q, k, v):
        """The next t positions: returns o [B, t, H, D]; then keeps k and v."""
        self._no_grad((q, k, v), ("q", "k", "v"))
        return self._cache.step(q, k, v)

    def append(self, k, v):
        """Keeps k, v [B, t, Hkv, D] as the next t positions without attending."""
        self._no_grad((k, v), ("k", "v"))
        self._cache.append(k, v)

    @property
    def position(self):
        """Positions seen so far."""
        return self._cache.position()

    @property
    def bytes(self):
        """Memory held; with window > 0 it stops growing once position >= window."""
        return self._cache.bytes()


def alibi_slopes(heads):
    """Press et al.'s geometric slopes, one per head, all favouring recent keys (float32)."""
    return _ops.alibi_slopes(int(heads))


def balanced_alibi_slopes(heads, scheme="paper"):
    """SWAT's balanced slopes (float32): the first ceil(H/2) heads favour recent keys, the rest
    older ones; scheme "released_code" gives the authors' training code's order."""
    return _ops.balanced_alibi_slopes(int(heads), str(scheme))


def best_isa():
    """The SIMD path the kernels take on this CPU (e.g. "avx512")."""
    return _ops.best_isa()
