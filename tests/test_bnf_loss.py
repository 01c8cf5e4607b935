"""bnf_loss: hand-computed values, gradients (finite differences, full-vocabulary form), signs,
masking, batch invariance, edges."""

from __future__ import annotations

import math

import pytest
import torch

from pasar.align.losses import bnf_loss, bnf_token_weights


@pytest.fixture(autouse=True)
def float64_by_default():
    """Exact comparisons in float64 here, without leaking the default into other test files."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def w_by_hand(p: float, p_ref: float) -> float:
    return 1.0 if p >= p_ref else (min(p / p_ref, 1.0) - p) / (1.0 - p)


def test_values_computed_by_hand():
    p = [[0.5, 0.2, 0.9], [0.1, 0.6, 0.3]]
    p_ref = [[0.4, 0.5, 0.95], [0.2, 0.6, 0.3]]
    mask = [[1, 1, 1], [1, 1, 0]]
    sign = [1.0, -1.0]
    expected = 0.0
    for b in range(2):
        n = sum(mask[b])
        s = sum(w_by_hand(p[b][t], p_ref[b][t]) * math.log(p[b][t]) for t in range(3) if mask[b][t])
        expected += -sign[b] * s / n
    expected /= 2
    loss = bnf_loss(
        torch.tensor(p).log(), torch.tensor(p_ref).log(), torch.tensor(mask), torch.tensor(sign)
    )
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    # Spot-check one weight: p=0.2 < p_ref=0.5 -> (0.4 - 0.2) / 0.8 = 0.25
    assert bnf_token_weights(
        torch.tensor([[0.2]]).log(), torch.tensor([[0.5]]).log()
    ).item() == pytest.approx(0.25)


def setup_logits(seed: int = 0, B: int = 3, T: int = 4, V: int = 7):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g, requires_grad=True)  # (B, T, V)
    ref_logits = torch.randn(B, T, V, generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1]])
    sign = torch.tensor([1.0, -1.0, 1.0])
    return logits, ref_logits, targets, mask, sign


def gather_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]  # (B, T)


def full_vocab_objective(logits, q, mask, sign):
    """mean_b(−sign_b · S_b) with the target distribution Q held fixed: BNF's definition."""
    s = (q * torch.log_softmax(logits, -1)).sum(-1)  # (B, T)
    per_seq = (s * mask).sum(-1) / mask.sum(-1)
    return -(sign * per_seq).mean()


def target_distribution(logits, ref_logits, targets):
    pi = torch.softmax(logits.detach(), -1)  # (B, T, V)
    pi_y = pi.gather(-1, targets[..., None])[..., 0]
    ref_y = torch.softmax(ref_logits, -1).gather(-1, targets[..., None])[..., 0]
    q_y = torch.clamp(pi_y / ref_y, max=1.0)
    q = pi * ((1 - q_y) / (1 - pi_y))[..., None]
    return q.scatter(-1, targets[..., None], q_y[..., None])  # (B, T, V), rows sum to 1


def test_gradient_equals_full_vocabulary_form_and_closed_form():
    logits, ref_logits, targets, mask, sign = setup_logits()
    loss = bnf_loss(gather_logps(logits, targets), gather_logps(ref_logits, targets), mask, sign)
    (grad,) = torch.autograd.grad(loss, logits)

    q = target_distribution(logits, ref_logits, targets)
    assert torch.allclose(q.sum(-1), torch.ones(3, 4))
    full = full_vocab_objective(logits, q, mask, sign)
    (grad_full,) = torch.autograd.grad(full, logits)
    assert torch.allclose(grad, grad_full, atol=1e-12)

    # Closed form: sign · (π − Q) / (n · B) on completion tokens, 0 elsewhere.
    pi = torch.softmax(logits.detach(), -1)
    n = mask.sum(-1)
    closed = sign[:, None, None] * (pi - q) / (n[:, None, None] * 3) * mask[..., None]
    assert torch.allclose(grad, closed, atol=1e-12)


def test_gradient_matches_finite_differences():
    logits, ref_logits, targets, mask, sign = setup_logits(seed=1)
    loss = bnf_loss(gather_logps(logits, targets), gather_logps(ref_logits, targets), mask, sign)
    (grad,) = torch.autograd.grad(loss, logits)
    q = target_distribution(logits, ref_logits, targets)  # held fixed: it is under stop-gradient
    eps = 1e-6
    base = logits.detach()
    for index in [(0, 0, 0), (0, 3, 6), (1, 1, 2), (2, 2, 4), (1, 3, 1)]:
        bumped_up, bumped_down = base.clone(), base.clone()
        bumped_up[index] += eps
        bumped_down[index] -= eps
        numeric = (
            full_vocab_objective(bumped_up, q, mask, sign)
            - full_vocab_objective(bumped_down, q, mask, sign)
        ) / (2 * eps)
        assert grad[index].item() == pytest.approx(numeric.item(), abs=1e-8)
    assert torch.all(grad[1, 2:] == 0) and torch.all(grad[2, 0] == 0)  # masked tokens get nothing


def test_signs_push_desirable_up_and_undesirable_down():
    logits = torch.zeros(2, 1, 5, requires_grad=True)
    targets = torch.tensor([[2], [2]])
    ref = torch.full((2, 1), math.log(0.1))  # π = 0.2 ≥ π_ref: w = 1, a plain ±NLL
    loss = bnf_loss(gather_logps(logits, targets), ref, torch.ones(2, 1), torch.tensor([1.0, -1.0]))
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[0, 0, 2] < 0  # gradient descent raises the desirable token's logit
    assert grad[1, 0, 2] > 0  # and lowers the undesirable one's
    assert torch.allclose(grad[0], -grad[1])


def test_weights_follow_the_definition():
    p = torch.tensor([[0.3, 0.3, 0.3, 0.999999]])
    p_ref = torch.tensor([[0.3, 0.1, 0.6, 0.9999999]])
    w = bnf_token_weights(p.log(), p_ref.log())
    assert w[0, 0] == 1 and w[0, 1] == 1  # π ≥ π_ref
    assert w[0, 2].item() == pytest.approx((0.5 - 0.3) / 0.7)
    assert 0 < w[0, 3] < 1 and w[0, 3].item() == pytest.approx(
        w_by_hand(0.999999, 0.9999999), rel=1e-6
    )
    assert w.dtype == torch.float32 or w.dtype == torch.float64


def test_padding_values_are_ignored_even_nan_and_inf():
    logps = torch.log(torch.tensor([[0.5, 0.25, 0.9]]))
    ref = torch.log(torch.tensor([[0.6, 0.25, 0.9]]))
    mask = torch.tensor([[1, 1, 0]])
    clean = bnf_loss(logps, ref, mask, torch.tensor([1.0]))
    dirty_logps = logps.clone().requires_grad_(True)
    with torch.no_grad():
        dirty_logps[0, 2] = float("nan")
    dirty_ref = ref.clone()
    dirty_ref[0, 2] = float("-inf")
    dirty = bnf_loss(dirty_logps, dirty_ref, mask, torch.tensor([1.0]))
    assert dirty.item() == pytest.approx(clean.item())
    dirty.backward()
    assert torch.isfinite(dirty_logps.grad).all() and dirty_logps.grad[0, 2] == 0


def test_no_nan_at_the_edges_in_fp32_and_bf16():
    for dtype in (torch.float32, torch.bfloat16):
        logps = torch.tensor(
            [[0.0, -1e-9, -80.0, float("-inf"), -2.0]], dtype=dtype, requires_grad=True
        )
        ref = torch.tensor([[-1e-12, -1e-12, -1.0, -1.0, float("-inf")]], dtype=dtype)
        loss = bnf_loss(logps, ref, torch.ones(1, 5), torch.tensor([-1.0]))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logps.grad).all(), dtype
    # π → 1 through the logits: a saturated softmax, with −inf logits for other tokens.
    logits = torch.tensor([[[60.0, -float("inf"), 0.0]]], dtype=torch.float32, requires_grad=True)
    ref = torch.tensor([[0.0]])
    loss = bnf_loss(
        gather_logps(logits, torch.tensor([[0]])), ref, torch.ones(1, 1), torch.tensor([1.0])
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_batch_composition_and_accumulation_do_not_change_anything():
    logits, ref_logits, targets, mask, sign = setup_logits(seed=2)
    logps, ref = gather_logps(logits, targets), gather_logps(ref_logits, targets)
    whole = bnf_loss(logps, ref, mask, sign)
    singles = [
        bnf_loss(logps[i : i + 1], ref[i : i + 1], mask[i : i + 1], sign[i : i + 1])
        for i in range(3)
    ]
    assert whole.item() == pytest.approx(sum(s.item() for s in singles) / 3)
    (grad_whole,) = torch.autograd.grad(whole, logits, retain_graph=True)
    # Accumulation: micro-batches of 2 and 1 sequences, each loss scaled by its share.
    accumulated = (
        bnf_loss(logps[:2], ref[:2], mask[:2], sign[:2]) * 2 / 3
        + bnf_loss(logps[2:], ref[2:], mask[2:], sign[2:]) / 3
    )
    (grad_acc,) = torch.autograd.grad(accumulated, logits)
    assert torch.allclose(grad_whole, grad_acc, atol=1e-12)
    # Padding a sequence further changes nothing.
    padded = bnf_loss(
        torch.cat([logps, torch.zeros(3, 5)], 1),
        torch.cat([ref, torch.zeros(3, 5)], 1),
        torch.cat([mask, torch.zeros(3, 5, dtype=mask.dtype)], 1),
        sign,
    )
    assert padded.item() == pytest.approx(whole.item())


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"same \(B, T\) shape"):
        bnf_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match=r"sign must be \(B,\)"):
        bnf_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), torch.ones(3))
