"""A dense float64 PyTorch transcription of SPEC sections 2 and 8, sharing nothing with swat:
every (query, key) score is formed, masked and activated. Differentiable through autograd, so
its gradients are the reference for swat's backward (SPEC section 3 is their closed form)."""

import torch


def rotate(x, positions, layout, base, rope_dim, freqs):
    """RoPE (SPEC 2.1 and 8.3): x [B, S, H, D] rotated at positions [S]."""
    r = x.shape[-1] if not rope_dim else rope_dim
    pair = torch.arange(r // 2, dtype=torch.float64)
    if freqs is None:
        inverse = float(base) ** (-2.0 * pair / r)
    else:
        inverse = torch.as_tensor(freqs, dtype=torch.float64)
    angle = positions.to(torch.float64)[:, None] * inverse[None, :]  # [S, r/2]
    cos, sin = angle.cos()[None, :, None, :], angle.sin()[None, :, None, :]
    if layout == "half":
        first = torch.arange(r // 2)
        second = first + r // 2
    else:  # interleaved
        first = 2 * torch.arange(r // 2)
        second = first + 1
    x1, x2 = x[..., first], x[..., second]
    out = x.clone()
    out[..., first] = x1 * cos - x2 * sin
    out[..., second] = x1 * sin + x2 * cos
    return out


def dense_attention(
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
    """o [B, Sq, H, D] in float64 from q [B, Sq, H, D], k, v [B, Sk, Hkv, D]; the options are
    swat_torch.attention's. Tensor slopes and sinks keep their autograd graph."""
    q, k, v = q.to(torch.float64), k.to(torch.float64), v.to(torch.float64)
    batch, q_len, heads, dim = q.shape
    k_len, kv_heads = k.shape[1], k.shape[2]
    if q_pos0 is None:
        q_pos0 = k_pos0 + k_len - q_len
    q_positions = q_pos0 + torch.arange(q_len, dtype=torch.float64)
    k_positions = k_pos0 + torch.arange(k_len, dtype=torch.float64)
    if rope is not None:
        q = rotate(q, q_positions, rope, rope_base, rope_dim, rope_freqs)
        k = rotate(k, k_positions, rope, rope_base, rope_dim, rope_freqs)
    # Query head h reads kv head h / (H / Hkv).
    group = heads // kv_heads
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)

    if scale is None or scale == 0:
        scale = dim**-0.5
    content = torch.einsum("bihd,bjhd->bhij", q, k) * scale
    if softcap:
        content = softcap * torch.tanh(content / softcap)
    distance = q_positions[:, None] - k_positions[None, :]  # p_i - p_j, [Sq, Sk]
    slopes = torch.zeros(heads, dtype=torch.float64) if alibi_slopes is None else torch.as_tensor(alibi_slopes)
    s = content - slopes.to(torch.float64)[None, :, None, None] * distance + sigmoid_bias
    visible = distance >= 0
    if window:
        visible = visible & (distance < window)

    if activation == "sigmoid":
        a = torch.sigmoid(s) * visible
    else:
        s = s.masked_fill(~visible, float("-inf"))
        top = s.amax(dim=-1, keepdim=True)
        if sinks is not None:
            sink = torch.as_tensor(sinks).to(torch.float64)[None, :, None, None].expand_as(top)
            top = torch.maximum(top, sink)
        # A constant shift of the row (and of the sink) changes nothing; it only keeps exp small.
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()
        e = torch.exp(s - top)
        denominator = e.sum(dim=-1, keepdim=True)
        if sinks is not None:
            denominator = denominator + torch.exp(sink - top)
        # A row with no visible key (and no sink) outputs zeros.
        a = e / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.einsum("bhij,bjhd->bihd", a, v)


def error(x, ref):
    """SPEC section 4: max|x - ref| / max(1, max|ref|)."""
    ref = ref.detach().to(torch.float64)
    if ref.numel() == 0:
        return 0.0
    difference = (x.detach().to(torch.float64) - ref).abs().max().item()
    return difference / max(1.0, ref.abs().max().item())


# SPEC section 4's bounds, forward and backward, per storage type.
BOUNDS = {
    torch.float32: (2e-5, 1e-4),
    torch.float64: (1e-12, 1e-12),
    torch.bfloat16: (2e-2, 2e-2),
}
