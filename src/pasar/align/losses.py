"""Alignment losses as small pure functions on per-token log-probabilities.

BNF, "bidirectional negative feedback" (Mao et al., ICLR 2025). For a completion token y with
policy probability π = π_θ(y | x, y<t) and reference probability π_ref, the target distribution is

    Q(y) = sg[min(π / π_ref, 1)],   Q(v) = sg[π(v) · (1 − Q(y)) / (1 − π(y))]  for v ≠ y,

and per sequence S = (1/n) Σ_t Σ_v Q(v) log π(v); the loss is mean_b(−sign_b · S_b), sign = +1
for a desirable completion and −1 for an undesirable one. Its gradient with respect to a token's
logits is sign · (π − Q) / (n · B), which is also the gradient of a token-weighted ±NLL with

    w = sg[(min(π / π_ref, 1) − π) / (1 − π)]      (w = 1 where π ≥ π_ref).

We compute that form: it needs only the log-probability of the chosen token, not the full
vocabulary. The returned value is therefore the weighted NLL −mean_b(sign_b · (1/n_b) Σ_t w·log π),
whose gradient is BNF's; it is not the value of S itself.
"""

from __future__ import annotations

import torch


def bnf_token_weights(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """BNF's per-token weight w in [0, 1], in fp32 or wider and without gradient.

    Written with expm1 so that it stays exact where π → 1 (1 − π = −expm1(log π)):
        w = (π/π_ref − π) / (1 − π) = exp(log π − log π_ref) · expm1(log π_ref) / expm1(log π)
    """
    dtype = torch.promote_types(policy_logps.dtype, torch.float32)  # never bf16/fp16 here
    logp = policy_logps.detach().to(dtype)  # (B, T)
    ref = ref_logps.detach().to(dtype)  # (B, T)
    # Where π < π_ref (so π < 1 and π_ref > 0), both expm1 terms are negative and nonzero.
    below = logp < ref
    safe_logp = torch.where(below, logp, torch.full_like(logp, -1.0))
    safe_ref = torch.where(below, ref, torch.full_like(ref, -0.5))
    w_below = torch.exp(safe_logp - safe_ref) * torch.expm1(safe_ref) / torch.expm1(safe_logp)
    w = torch.where(below, w_below, torch.ones_like(logp))
    # A target of probability 0 (log π = −inf) has w = 0: nothing to push, nothing to pull.
    w = torch.where(torch.isneginf(logp), torch.zeros_like(w), w)
    return w.clamp(0.0, 1.0)


def bnf_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    mask: torch.Tensor,
    sign: torch.Tensor,
) -> torch.Tensor:
    """BNF loss (a scalar) of a batch of completions.

    policy_logps: (B, T) log π_θ of each completion token; the only input carrying gradient.
    ref_logps:    (B, T) log π_ref of the same tokens.
    mask:         (B, T) 1 on completion tokens, 0 on prompt and padding (values there ignored).
    sign:         (B,)   +1 for a desirable completion, −1 for an undesirable one.

    Each sequence is normalised by its own token count, so the loss does not depend on how
    sequences are batched or accumulated.
    """
    if policy_logps.shape != ref_logps.shape or policy_logps.shape != mask.shape:
        raise ValueError(
            f"policy_logps {tuple(policy_logps.shape)}, ref_logps {tuple(ref_logps.shape)} and "
            f"mask {tuple(mask.shape)} must have the same (B, T) shape"
        )
    if sign.shape != policy_logps.shape[:1]:
        raise ValueError(f"sign must be (B,) = ({policy_logps.shape[0]},), got {tuple(sign.shape)}")
    valid = mask.bool()  # (B, T)
    weights = torch.where(valid, bnf_token_weights(policy_logps, ref_logps), 0.0)  # (B, T)
    # Zero the log-probs outside the mask and where w = 0, so −inf or NaN there cannot leak in.
    logps = torch.where(valid & (weights > 0), policy_logps.to(weights.dtype), 0.0)  # (B, T)
    n_tokens = valid.sum(dim=-1).clamp(min=1)  # (B,)
    weighted_loglik = (weights * logps).sum(dim=-1) / n_tokens  # (B,)
    return -(sign.to(weights.dtype) * weighted_loglik).mean()
