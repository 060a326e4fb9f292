"""The PNP loss: parity with pytorch-metric-learning, exact gradients, degenerate batches, the paper's property."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning.losses import PNPLoss as ReferencePNP

from reid.losses import PNPLoss, pnp_loss
from reid.losses.pnp import _NegativesBefore, anchor_positive_pairs

VARIANTS = ["O", "Ds", "Dq", "Iu", "Ib"]

# Label layouts: P x K, uneven counts (unsorted, negative and sparse ids), and singletons mixed in.
BATCHES = {
    "pk": [i // 4 for i in range(24)],
    "uneven": [5, 5, 5, 1, 1, -3, 9, 9, 9, 9, 9, 9, 5, 1, 42, 42, 7, 7, 7, 5],
    "singletons": [0, 1, 2, 2, 3, 4, 5, 5, 5, 6, 7, 8, 9, 3],
}


def _pair(variant, dtype, labels, dim=8, seed=0, **params):
    """Loss values and gradients of the reference and of ours on the same random batch."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor(labels)
    x = torch.randn(len(labels), dim, generator=gen, dtype=torch.float64).to(dtype)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    kwargs = {
        "alpha": params.get("alpha", 4.0),
        "anneal": params.get("anneal", 0.01),
        "b": params.get("b", 2.0),
    }
    ref = ReferencePNP(variant=variant, **kwargs)(x_ref, labels)
    ref.backward()
    ours = PNPLoss(variant=variant, **kwargs, chunk_elements=params.get("chunk_elements", 1 << 22))(
        x_ours, labels
    )
    ours.backward()
    return ref, ours, x_ref.grad, x_ours.grad


def _assert_grad_close(ref_grad, our_grad, rtol):
    # Relative to the gradient's scale: entries that are zero analytically differ by rounding only.
    scale = ref_grad.abs().max().clamp_min(1e-30)
    torch.testing.assert_close(our_grad, ref_grad, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layout", list(BATCHES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_reference_value_and_gradient(variant, layout, dtype):
    # dim=8 spreads similarities over [-1, 1], so the exponent clamp at +-50 is active for many triples.
    ref, ours, ref_grad, our_grad = _pair(variant, dtype, BATCHES[layout])
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    _assert_grad_close(ref_grad, our_grad, 1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_reference_with_other_hyper_parameters_and_tiny_chunks(variant):
    params = {"alpha": 2.0, "anneal": 0.1, "b": 0.5, "chunk_elements": 7}
    ref, ours, ref_grad, our_grad = _pair(variant, torch.float64, BATCHES["uneven"], dim=16, seed=3, **params)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-9)
    _assert_grad_close(ref_grad, our_grad, 1e-5)


def test_matches_reference_on_a_larger_pk_batch_with_wide_embeddings():
    labels = [i // 4 for i in range(64)]
    ref, ours, ref_grad, our_grad = _pair("Dq", torch.float32, labels, dim=128, seed=7)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    _assert_grad_close(ref_grad, our_grad, 1e-5)


def test_value_matches_the_definition_computed_by_loops():
    """An independent, literal reading of the definition (cosine, anchor in its own positives, clamp)."""
    labels = [0, 0, 1, 1, 1, 2]
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xn = x / x.norm(dim=1, keepdim=True)
    sim = xn @ xn.t()
    tau, alpha = 0.05, 4.0
    per_anchor = []
    for i in range(6):
        pos = [j for j in range(6) if labels[j] == labels[i]]
        if len(pos) < 2:
            continue
        neg = [k for k in range(6) if labels[k] != labels[i]]
        terms = []
        for j in pos:
            r = sum(
                1 / (1 + math.exp(min(50.0, max(-50.0, -(sim[i, k] - sim[i, j]).item() / tau)))) for k in neg
            )
            terms.append(1 / (1 + r) ** alpha)
        per_anchor.append(sum(terms) / len(terms))
    expected = 1 - sum(per_anchor) / len(per_anchor)
    got = PNPLoss("Dq", alpha=alpha, anneal=tau)(x, torch.tensor(labels))
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_gradcheck_of_the_hand_written_backward():
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])
    same = labels[:, None] == labels[None, :]
    anchors, positives, groups = anchor_positive_pairs(labels)
    assert groups == [(2, 4), (3, 3)]  # uneven: two blocks in the backward pass
    # unnormalised rows: the function must be exact for any X in S = X X^T
    x = (torch.randn(8, 3, generator=gen, dtype=torch.float64) * 0.6).requires_grad_()

    def fn(e):
        return _NegativesBefore.apply(e, anchors, positives, groups, same, 0.3, 5)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradcheck_of_the_whole_loss(variant):
    x = torch.randn(10, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64).requires_grad_()
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    loss = PNPLoss(variant, alpha=2.0, anneal=0.2, b=2.0, chunk_elements=9)
    assert torch.autograd.gradcheck(lambda e: loss(e, labels), (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_where_the_exponent_clamp_is_active():
    """With anneal 0.02 a similarity gap above 1 saturates the sigmoid: its gradient must be exactly zero."""
    gen = torch.Generator().manual_seed(4)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    same = labels[:, None] == labels[None, :]
    anchors, positives, groups = anchor_positive_pairs(labels)
    x = torch.nn.functional.normalize(torch.randn(6, 3, generator=gen, dtype=torch.float64), dim=1)
    sim = x @ x.t()
    gaps = (sim[anchors] - sim[anchors, positives][:, None]).abs()[~same[anchors]]
    assert (gaps > 1.0).any() and (gaps < 0.5).any()

    def fn(e):
        return _NegativesBefore.apply(e, anchors, positives, groups, same, 0.02, 1 << 20)

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(),), eps=1e-7, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_batch_without_positives_is_zero_with_zero_gradients(variant):
    x = torch.randn(5, 4, requires_grad=True)
    loss = PNPLoss(variant)(x, torch.arange(5))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", ["all_equal", "zero_row", "single_label", "one_sample"])
def test_degenerate_batches_stay_finite(variant, case):
    if case == "one_sample":
        x, labels = torch.randn(1, 4), torch.tensor([3])
    else:
        x, labels = torch.randn(8, 4), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    if case == "all_equal":
        x = torch.ones(8, 4)
    elif case == "zero_row":
        x[2] = 0.0
    elif case == "single_label":
        labels = torch.zeros(8, dtype=torch.long)
    x.requires_grad_()
    loss = PNPLoss(variant)(x, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(x.grad).all()
    if case in ("single_label", "one_sample"):
        assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_autocast_bfloat16_gives_a_float32_loss_close_to_full_precision():
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 32)
    inputs = torch.randn(16, 16)
    labels = torch.arange(4).repeat_interleave(4)
    loss_fn = PNPLoss("Dq")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = layer(inputs)
        assert emb.dtype == torch.bfloat16
        loss = loss_fn(emb, labels)
    assert loss.dtype == torch.float32
    loss.backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
    expected = loss_fn(emb.detach().float(), labels)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-6, atol=1e-6)


def test_half_and_double_inputs_keep_a_sensible_dtype():
    labels = torch.arange(3).repeat_interleave(2)
    assert PNPLoss()(torch.randn(6, 4, dtype=torch.float16), labels).dtype == torch.float32
    assert PNPLoss()(torch.randn(6, 4, dtype=torch.float64), labels).dtype == torch.float64


def test_paper_names_are_accepted_and_unknown_names_are_refused():
    x = torch.randn(8, 4, dtype=torch.float64)
    labels = torch.arange(4).repeat_interleave(2)
    for paper, short in [
        ("PNP-O", "O"),
        ("PNP-D_s", "Ds"),
        ("PNP-D_q", "Dq"),
        ("PNP-I_u", "Iu"),
        ("PNP-I_b", "Ib"),
    ]:
        assert PNPLoss(paper).variant == short
        assert PNPLoss(paper)(x, labels).item() == PNPLoss(short)(x, labels).item()
    with pytest.raises(ValueError, match=r"valid names: O, Ds, Dq, Iu, Ib, PNP-O"):
        PNPLoss("D_q")
    with pytest.raises(ValueError, match="anneal"):
        PNPLoss(anneal=0.0)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="labels must be"):
        pnp_loss(torch.randn(4, 3), torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="embeddings must be"):
        pnp_loss(torch.randn(4), torch.tensor([0, 0, 1, 1]))


def _positive_gradient(variant: str, negatives_before: int) -> float:
    """|d loss / d angle of the positive| with ``negatives_before`` negatives ranked (saturated) before it.

    2-D embeddings: anchor at 0 deg, its positive at 90 deg (similarity 0); ``negatives_before`` negatives at
    -10 deg (similarity 0.98, far above the positive: their sigmoids are clamped, so they add to R but not to
    the gradient) and one negative at -90 deg with exactly the positive's similarity, which carries the
    gradient. So the gradient is f'(R) times a constant, with R = negatives_before + 1/2.
    """
    theta = torch.tensor(math.pi / 2, dtype=torch.float64, requires_grad=True)
    rows = [torch.tensor([1.0, 0.0], dtype=torch.float64), torch.stack([torch.cos(theta), torch.sin(theta)])]
    near = torch.tensor([math.cos(math.radians(-10)), math.sin(math.radians(-10))], dtype=torch.float64)
    rows += [near] * negatives_before + [torch.tensor([0.0, -1.0], dtype=torch.float64)]
    labels = torch.tensor([0, 0, *range(1, negatives_before + 2)])
    loss = PNPLoss(variant, alpha=4.0, anneal=0.01, b=2.0)(torch.stack(rows), labels)
    (grad,) = torch.autograd.grad(loss, theta)
    return abs(grad.item())


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_on_a_positive_follows_the_variant(variant):
    grads = [_positive_gradient(variant, n) for n in (0, 1, 2, 4, 8)]
    assert all(g > 0 for g in grads)
    steps = [b / a for a, b in zip(grads, grads[1:], strict=False)]
    if variant == "O":
        assert all(s == pytest.approx(1.0, rel=1e-6) for s in steps)
    elif variant in ("Ds", "Dq"):  # decreasing: hopeless positives are given up
        assert all(s < 0.99 for s in steps)
    else:  # "Iu", "Ib": increasing: the worst-ranked positives are pulled hardest
        assert all(s > 1.01 for s in steps)  # Ib saturates towards 1/b


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_reference_on_cuda_and_under_cuda_autocast(variant):
    gen = torch.Generator().manual_seed(5)
    labels = torch.tensor(BATCHES["uneven"], device="cuda")
    x = torch.randn(len(labels), 32, generator=gen).cuda()
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref = ReferencePNP(variant=variant, alpha=4.0, anneal=0.01, b=2.0)(x_ref, labels)
    ref.backward()
    ours = PNPLoss(variant)(x_ours, labels)
    ours.backward()
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    _assert_grad_close(x_ref.grad, x_ours.grad, 1e-5)
    with torch.autocast("cuda", dtype=torch.float16):
        half = PNPLoss(variant)(x.half(), labels)
    assert half.dtype == torch.float32 and torch.isfinite(half)
