"""swat_torch.attention and attention_varlen against the dense reference (reference.py):
forward and gradients over windows, GQA, RoPE layouts, slopes, positions, softcap, sinks and
dtypes; gradcheck in float64; non-contiguous inputs; thread counts."""

import pytest
import torch

import swat_torch
from reference import BOUNDS, dense_attention, error

# SPEC section 8 (softcap, sinks, rope_freqs) is computed by the kernels only once the score
# layer lands; until then the library refuses those options.

DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def make(shape, dtype, generator):
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype)


# Each case: shapes (B, Sq, Sk, H, Hkv, D) and the options. Slopes, biases and scales are exact
# in float32, the precision Options holds them in.
CASES = {
    "causal-sigmoid": dict(shape=(2, 9, 9, 2, 2, 16)),
    "window1": dict(shape=(1, 7, 7, 2, 2, 16), window=1),
    "window3-slopes": dict(shape=(2, 12, 12, 4, 4, 16), window=3, slopes="balanced"),
    "window-longer-than-text": dict(shape=(1, 6, 6, 2, 2, 8), window=50, slopes="balanced"),
    "gqa-rope-half": dict(shape=(1, 11, 11, 4, 2, 16), window=4, rope="half", slopes="balanced"),
    "mqa-rope-interleaved-partial": dict(shape=(2, 10, 10, 4, 1, 16), window=5, rope="interleaved", rope_dim=8),
    "softmax-window-slopes": dict(shape=(1, 13, 13, 4, 2, 16), window=4, activation="softmax", slopes="balanced"),
    "softmax-rope-positions": dict(
        shape=(1, 5, 9, 2, 1, 16), window=6, activation="softmax", rope="half", k_pos0=100, rope_base=500.0
    ),
    "sigmoid-bias-scale": dict(shape=(1, 8, 8, 2, 2, 16), window=3, sigmoid_bias=-1.5, scale=0.5),
    "queries-before-keys-end": dict(shape=(1, 4, 8, 2, 2, 16), window=3, q_pos0=2, slopes="balanced"),
    "softcap-sigmoid": dict(shape=(1, 9, 9, 2, 2, 16), window=4, softcap=2.0, slopes="balanced", spec8=True),
    "softcap-softmax-gqa": dict(shape=(1, 9, 9, 4, 2, 16), window=4, softcap=1.5, activation="softmax", spec8=True),
    "sinks": dict(shape=(2, 10, 10, 4, 2, 16), window=3, activation="softmax", sinks=True, spec8=True),
    "sinks-slopes-rope": dict(
        shape=(1, 10, 10, 2, 1, 16), window=4, activation="softmax", sinks=True, slopes="balanced", rope="half", spec8=True
    ),
    "rope-freqs": dict(shape=(1, 9, 9, 2, 2, 16), window=5, rope="half", rope_dim=8, freqs=True, spec8=True),
    "all-of-spec8": dict(
        shape=(1, 9, 9, 4, 2, 16),
        window=4,
        activation="softmax",
        softcap=3.0,
        sinks=True,
        rope="interleaved",
        freqs=True,
        slopes="balanced",
        spec8=True,
    ),
}


def case_params(dtypes):
    out = []
    for name, case in CASES.items():
        for dtype in dtypes:
            out.append(pytest.param(name, dtype, id=f"{name}-{str(dtype)[6:]}"))
    return out


def build(name, dtype, seed=0):
    """Inputs and keyword options of a case; slopes and sinks as float32 tensors."""
    case = CASES[name]
    g = torch.Generator().manual_seed(seed)
    batch, q_len, k_len, heads, kv_heads, dim = case["shape"]
    q = make((batch, q_len, heads, dim), dtype, g)
    k = make((batch, k_len, kv_heads, dim), dtype, g)
    v = make((batch, k_len, kv_heads, dim), dtype, g)
    options = {key: case[key] for key in ("window", "activation", "scale", "sigmoid_bias", "rope", "rope_base",
                                           "rope_dim", "softcap", "k_pos0", "q_pos0") if key in case}  # fmt: skip
    if case.get("slopes") == "balanced":
        options["alibi_slopes"] = swat_torch.balanced_alibi_slopes(heads)
    if case.get("sinks"):
        options["sinks"] = torch.tensor([0.5, -1.0, 2.0, 0.0][:heads], dtype=torch.float32)
    if case.get("freqs"):
        r = case.get("rope_dim") or dim
        # Linear-scaled frequencies (position interpolation by 4): exact in float32 is not needed,
        # the reference reads the same float32 values.
        options["rope_freqs"] = (10000.0 ** (-2 * torch.arange(r // 2, dtype=torch.float64) / r) / 4).float()
    return q, k, v, options


@pytest.mark.parametrize("name,dtype", case_params(DTYPES))
def test_forward_matches_dense_reference(name, dtype):
    q, k, v, options = build(name, dtype)
    o = swat_torch.attention(q, k, v, **options)
    assert o.dtype == dtype and o.shape == q.shape
    ref = dense_attention(q, k, v, **options)
    assert error(o, ref) <= BOUNDS[dtype][0], f"{name} {dtype}: forward error {error(o, ref):.3g}"


@pytest.mark.parametrize("name,dtype", case_params(DTYPES))
def test_gradients_match_dense_reference(name, dtype):
    q, k, v, options = build(name, dtype)
    learnable = [key for key in ("alibi_slopes", "sinks") if key in options]
    for key in learnable:
        options[key] = options[key].clone().requires_grad_()
    inputs = [t.clone().requires_grad_() for t in (q, k, v)]
    weight = make(q.shape, torch.float64, torch.Generator().manual_seed(1))
    (swat_torch.attention(*inputs, **options).to(torch.float64) * weight).sum().backward()

    ref_inputs = [t.detach().to(torch.float64).requires_grad_() for t in (q, k, v)]
    ref_options = dict(options)
    for key in learnable:
        ref_options[key] = options[key].detach().to(torch.float64).requires_grad_()
    (dense_attention(*ref_inputs, **ref_options) * weight).sum().backward()

    bound = BOUNDS[dtype][1]
    for label, got, ref in zip("qkv", inputs, ref_inputs):
        assert got.grad.dtype == dtype
        assert error(got.grad, ref.grad) <= bound, f"{name} {dtype}: d{label} error {error(got.grad, ref.grad):.3g}"
    for key in learnable:
        # Slope and sink gradients come back as float32 sums (swat::backward's float* outputs).
        grad_bound = max(bound, 2e-6)
        got, ref = options[key].grad, ref_options[key].grad
        assert error(got, ref) <= grad_bound, f"{name} {dtype}: d{key} error {error(got, ref):.3g}"


def test_gradcheck_float64_with_slopes():
    g = torch.Generator().manual_seed(2)
    q, k, v = (make((1, 7, 4, 4), torch.float64, g).requires_grad_() for _ in range(3))
    k, v = k[:, :, :2].detach().requires_grad_(), v[:, :, :2].detach().requires_grad_()
    # Slopes exact in float32, stepped by a power of two: the float32 options see the same steps.
    slopes = torch.tensor([0.5, 0.25, -0.5, -0.25], dtype=torch.float64, requires_grad=True)
    for activation in ("sigmoid", "softmax"):
        for rope in (None, "half"):

            def f(q, k, v, slopes):
                return swat_torch.attention(q, k, v, window=3, activation=activation, alibi_slopes=slopes, rope=rope)

            assert torch.autograd.gradcheck(f, (q, k, v, slopes), eps=2.0**-20, atol=1e-5, rtol=1e-3)


def test_gradcheck_float64_with_sinks_and_softcap():
    g = torch.Generator().manual_seed(3)
    q, k, v = (make((1, 7, 2, 4), torch.float64, g).requires_grad_() for _ in range(3))
    slopes = torch.tensor([0.5, -0.25], dtype=torch.float64, requires_grad=True)
    sinks = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)

    def f(q, k, v, slopes, sinks):
        return swat_torch.attention(
            q, k, v, window=4, activation="softmax", alibi_slopes=slopes, sinks=sinks, softcap=2.0, rope="interleaved"
        )

    assert torch.autograd.gradcheck(f, (q, k, v, slopes, sinks), eps=2.0**-20, atol=1e-5, rtol=1e-3)


def test_gradcheck_float64_varlen():
    g = torch.Generator().manual_seed(4)
    q, k, v = (make((9, 2, 4), torch.float64, g).requires_grad_() for _ in range(3))
    slopes = torch.tensor([0.5, -0.25], dtype=torch.float64, requires_grad=True)

    def f(q, k, v, slopes):
        return swat_torch.attention_varlen(q, k, v, [0, 4, 4, 9], window=3, alibi_slopes=slopes, rope="half")

    assert torch.autograd.gradcheck(f, (q, k, v, slopes), eps=2.0**-20, atol=1e-5, rtol=1e-3)


def test_varlen_is_each_sequence_on_its_own():
    g = torch.Generator().manual_seed(5)
    offsets = [0, 5, 5, 12, 13]
    q = make((13, 4, 16), torch.float32, g)
    k, v = make((13, 2, 16), torch.float32, g), make((13, 2, 16), torch.float32, g)
    options = dict(window=3, activation="softmax", alibi_slopes=swat_torch.balanced_alibi_slopes(4), rope="half")
    o = swat_torch.attention_varlen(q, k, v, torch.tensor(offsets, dtype=torch.int32), **options)
    assert o.shape == q.shape
    for first, last in zip(offsets[:-1], offsets[1:]):
        if first == last:
            continue
        ref = dense_attention(q[None, first:last], k[None, first:last], v[None, first:last], **options)[0]
        assert error(o[first:last], ref) <= BOUNDS[torch.float32][0], f"sequence [{first}, {last})"
    # The batch-of-one layout gives the same.
    assert torch.equal(swat_torch.attention_varlen(q[None], k[None], v[None], offsets, **options)[0], o)


def test_non_contiguous_inputs_are_read_in_place():
    g = torch.Generator().manual_seed(6)
    batch, length, heads, kv_heads, dim = 2, 10, 4, 2, 16
    # q in [B, H, S, D] memory, k every other element of a wider tensor, v one kv head broadcast.
    q = make((batch, heads, length, dim), torch.float32, g).transpose(1, 2)
    k = make((batch, length, kv_heads, 2 * dim), torch.float32, g)[..., ::2]
    v = make((batch, length, 1, dim), torch.float32, g).expand(batch, length, kv_heads, dim)
    assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous())
    options = dict(window=4, alibi_slopes=swat_torch.balanced_alibi_slopes(heads), rope="half")
    o = swat_torch.attention(q, k, v, **options)
    ref = dense_attention(q, k, v, **options)
    assert error(o, ref) <= BOUNDS[torch.float32][0]

    # Gradients, with an upstream gradient that is itself strided.
    inputs = [t.detach().requires_grad_() for t in (q, k, v)]
    upstream = make((batch, heads, length, dim), torch.float32, g).transpose(1, 2)
    swat_torch.attention(*inputs, **options).backward(upstream)
    ref_inputs = [t.detach().to(torch.float64).requires_grad_() for t in (q, k, v)]
    dense_attention(*ref_inputs, **options).backward(upstream.to(torch.float64))
    for label, got, ref in zip("qkv", inputs, ref_inputs):
        assert error(got.grad, ref.grad) <= BOUNDS[torch.float32][1], f"d{label}"


def test_results_do_not_depend_on_torch_thread_count():
    g = torch.Generator().manual_seed(7)
    q, k, v = (make((2, 300, 4, 32), torch.float32, g) for _ in range(3))
    options = dict(window=64, alibi_slopes=swat_torch.balanced_alibi_slopes(4), rope="half")
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = swat_torch.attention(q, k, v, **options)
        torch.set_num_threads(2)
        two = swat_torch.attention(q, k, v, **options)
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(one, two)


def test_learnable_slopes_change_the_output():
    # The balanced slopes of the paper as a parameter: a step along their gradient lowers the loss.
    g = torch.Generator().manual_seed(8)
    q, k, v = (make((1, 16, 4, 16), torch.float32, g) for _ in range(3))
    target = make((1, 16, 4, 16), torch.float32, g)
    slopes = swat_torch.balanced_alibi_slopes(4).requires_grad_()

    def loss():
        return ((swat_torch.attention(q, k, v, window=8, alibi_slopes=slopes) - target) ** 2).mean()

    before = loss()
    before.backward()
    with torch.no_grad():
        slopes -= 0.1 * slopes.grad / slopes.grad.norm()
    assert loss().item() < before.item()


def test_direct_op_call_does_not_fake_a_gradient():
    q = torch.randn(1, 4, 2, 8, requires_grad=True)
    o = torch.ops.swat.forward(q, q.detach(), q.detach())
    with pytest.raises(RuntimeError, match="not implemented"):
        o.sum().backward()


def test_slope_helpers():
    assert torch.equal(swat_torch.balanced_alibi_slopes(4), torch.tensor([0.5, 0.25, -0.5, -0.25]))
    assert torch.equal(swat_torch.alibi_slopes(2), torch.tensor([2.0**-4, 2.0**-8]))
    released = swat_torch.balanced_alibi_slopes(4, "released_code")
    assert torch.equal(released, torch.tensor([-(2.0**-2), -(2.0**-4), 2.0**-4, 2.0**-2]))
    assert swat_torch.best_isa() in ("avx512", "avx2", "sse2", "neon", "portable")
