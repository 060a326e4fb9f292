"""The PNP ranking loss ("Penalizing Negative instances before Positive ones", Li et al., AAAI 2022).

For an anchor ``i``, ``R_ij`` counts (smoothly) the negatives ranked before the positive ``j``; a variant ``f``
decides how strongly a positive is pulled up as that count grows:

========  ==========================  =========================================================
variant   f(R)                        what it does to the gradient on a positive
========  ==========================  =========================================================
``O``     R                           constant: every negative before a positive costs the same
``Ds``    log(1 + R)                  decreasing: give up on hopeless positives (noisy labels)
``Dq``    1 / (1 + R)^alpha           decreasing faster; the loss is ``1 - mean f`` (the paper's best)
``Iu``    (1 + R) log(1 + R)          increasing: work hardest on the worst positives
``Ib``    (b R - log(1 + b R)) / b^2  increasing, bounded by ``1/b``
========  ==========================  =========================================================

The reference (pytorch-metric-learning's ``PNPLoss``, adapted from the authors' code) materialises
``B x B x B`` tensors. Only the (anchor, positive, negative) triples matter, so this module enumerates the
``M = sum_c n_c^2`` (anchor, positive) pairs (``M = B K`` for a P x K batch) and for each one looks at the
anchor's row of the similarity matrix: ``M x B`` work and memory, processed in chunks of pairs so memory is
bounded even for very uneven label counts. The gradient is written by hand (checked with ``gradcheck``) and
recomputes the sigmoid chunk by chunk, so nothing of size ``M x B`` is kept between forward and backward.

Semantics follow the reference exactly (the parity tests are the arbiter):

* similarities are cosine, through ``torch.nn.functional.normalize`` (eps 1e-12): a zero row has similarity
  0 to everything, and its gradient is that of ``x / 1e-12`` (finite, possibly large), as in the reference;
* the positive set of an anchor includes the anchor itself (``s_ii = 1``), so every anchor contributes one
  ``R_ii`` term counting negatives more similar than the anchor is to itself (almost always ~0);
* ``R_ij = sum_{k in N(i)} sigmoid((s_ik - s_ij) / anneal)`` where the sigmoid is computed as
  ``1 / (1 + exp(e))`` with ``e = -(s_ik - s_ij) / anneal`` clamped to ``[-50, 50]``; where the clamp is
  active the gradient is zero (as ``torch.clamp``'s is, both ends inclusive);
* anchors whose label occurs once in the batch are ignored; the loss is the mean over the other anchors of the
  mean over their positives of ``f(R_ij)``; for ``Dq`` it is one minus that;
* a batch without any repeated label returns ``sum(embeddings * 0)``: zero with zero gradients;
* the defaults differ: the reference uses ``alpha=1``, here ``alpha=4`` (the paper's setting for PNP-D_q);
  ``b=2`` and ``anneal=0.01`` are the same.

Where the short definition in the project issue and the reference differ, the reference wins: the issue writes
``N(i)`` for the negatives of the anchor, and the reference masks with the negatives of the *positive*
``j``; those are the same set because ``j`` has the anchor's label. Labels that occur in the batch more than
once but where every sample has the same label give ``R = 0`` (no negatives): those anchors still count,
with ``f(0)`` (``0`` for every variant, ``1`` for ``Dq`` which then gives ``1 - 1 = 0``), as in the reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from reid.losses.variants import canonical_variant

# The reference clamps the sigmoid's exponent to this range; the gradient is zero outside it.
_CLAMP = 50.0
# Default number of (pair, column) elements processed at once: 4 Mi elements (16 MiB in float32).
DEFAULT_CHUNK_ELEMENTS = 1 << 22


def _chunk_ranges(num_pairs: int, row_len: int, chunk_elements: int) -> list[tuple[int, int]]:
    step = max(1, chunk_elements // max(1, row_len))
    return [(start, min(start + step, num_pairs)) for start in range(0, num_pairs, step)]


def _sigmoid_parts(
    sim: torch.Tensor, anchors: torch.Tensor, positives: torch.Tensor, neg: torch.Tensor, anneal: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a chunk of (anchor, positive) pairs: the masked sigmoids, ``exp(e)`` and where the clamp passes.

    Written exactly like the reference (``1 / (1 + exp(clamp(-(s_ik - s_ij) / anneal)))``) so values agree
    to rounding.
    """
    rows = sim.index_select(0, anchors)  # (c, B): s_ik for every k
    s_pos = rows.gather(1, positives.unsqueeze(1))  # (c, 1): s_ij
    exponent = -(rows - s_pos) / anneal
    passes = (exponent >= -_CLAMP) & (exponent <= _CLAMP)
    t = torch.exp(exponent.clamp_(-_CLAMP, _CLAMP))
    y = 1.0 / (1.0 + t)
    mask = neg.index_select(0, anchors)  # (c, B) bool: k is a negative of the anchor
    return y * mask, t, passes & mask


class _NegativesBefore(torch.autograd.Function):
    """``R[m] = sum_k neg[a_m, k] * sigmoid((S[a_m, k] - S[a_m, j_m]) / anneal)`` with a hand-written gradient."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        sim: torch.Tensor,
        anchors: torch.Tensor,
        positives: torch.Tensor,
        neg: torch.Tensor,
        anneal: float,
        chunk_elements: int,
    ) -> torch.Tensor:
        out = sim.new_empty(anchors.numel())
        for start, stop in _chunk_ranges(anchors.numel(), sim.shape[1], chunk_elements):
            y, _, _ = _sigmoid_parts(sim, anchors[start:stop], positives[start:stop], neg, anneal)
            out[start:stop] = y.sum(dim=1)
        ctx.save_for_backward(sim, anchors, positives, neg)
        ctx.anneal = anneal
        ctx.chunk_elements = chunk_elements
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        sim, anchors, positives, neg = ctx.saved_tensors
        grad_sim = torch.zeros_like(sim)
        for start, stop in _chunk_ranges(anchors.numel(), sim.shape[1], ctx.chunk_elements):
            a, j = anchors[start:stop], positives[start:stop]
            y, t, passes = _sigmoid_parts(sim, a, j, neg, ctx.anneal)
            # d y / d s_ik = y^2 exp(e) / anneal (the reference's autograd path: reciprocal, then exp), zero
            # where the clamp is active or k is not a negative.
            g = (y * y * t * passes) * (grad_out[start:stop].unsqueeze(1) / ctx.anneal)
            grad_sim.index_add_(0, a, g)
            grad_sim.index_put_((a, j), -g.sum(dim=1), accumulate=True)
        return grad_sim, None, None, None, None, None


def _rank_transform(r: torch.Tensor, variant: str, alpha: float, b: float) -> torch.Tensor:
    if variant == "O":
        return r
    if variant == "Ds":
        return torch.log(1 + r)
    if variant == "Dq":
        return 1 / (1 + r) ** alpha
    if variant == "Iu":
        return (1 + r) * torch.log(1 + r)
    # "Ib"
    return 1 / b**2 * (b * r - torch.log(1 + b * r))


def pnp_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    variant: str = "Dq",
    alpha: float = 4.0,
    anneal: float = 0.01,
    b: float = 2.0,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """The PNP loss of a batch, in ``O(B^2 K)`` time and ``O(B^2)`` memory; see the module docstring.

    ``embeddings`` is ``(B, D)`` (any float dtype; half precision is computed in float32, float64 stays
    float64), ``labels`` is ``(B,)`` integers. Returns a scalar; autocast is disabled inside so the loss is
    never computed in reduced precision.
    """
    variant = canonical_variant(variant)
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (B, D), got shape {tuple(embeddings.shape)}")
    if labels.dim() != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels must be (B,) with B = {embeddings.shape[0]} to match embeddings, got shape {tuple(labels.shape)}"
        )
    if embeddings.dtype not in (torch.float32, torch.float64):
        embeddings = embeddings.float()
    labels = labels.to(embeddings.device)
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        same = labels.unsqueeze(0) == labels.unsqueeze(1)  # (B, B), diagonal included
        counts = same.sum(dim=1)
        valid = counts > 1
        if not bool(valid.any()):
            return torch.sum(embeddings * 0)
        anchors, positives = torch.nonzero(same & valid.unsqueeze(1), as_tuple=True)
        normed = F.normalize(embeddings, p=2, dim=1)
        sim = normed @ normed.t()
        r = _NegativesBefore.apply(sim, anchors, positives, ~same, float(anneal), int(chunk_elements))
        per_pair = _rank_transform(r, variant, alpha, b)
        per_anchor = torch.zeros(embeddings.shape[0], dtype=per_pair.dtype, device=per_pair.device)
        per_anchor = per_anchor.index_add(0, anchors, per_pair)
        loss = (per_anchor[valid] / counts[valid].to(per_pair.dtype)).sum() / valid.sum().to(per_pair.dtype)
        return 1 - loss if variant == "Dq" else loss


class PNPLoss(torch.nn.Module):
    """``PNPLoss(variant="Dq", alpha=4.0, anneal=0.01, b=2.0)(embeddings, labels) -> scalar``.

    ``variant`` is one of ``O, Ds, Dq, Iu, Ib`` or the paper's ``PNP-O, PNP-D_s, PNP-D_q, PNP-I_u, PNP-I_b``;
    ``alpha`` is the exponent of ``Dq``, ``b`` the scale of ``Ib``, ``anneal`` the sigmoid's temperature.
    ``chunk_elements`` bounds the size of the temporary ``(pairs, B)`` blocks (memory, not the result).
    """

    def __init__(
        self,
        variant: str = "Dq",
        alpha: float = 4.0,
        anneal: float = 0.01,
        b: float = 2.0,
        chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    ) -> None:
        super().__init__()
        self.variant = canonical_variant(variant)
        if not anneal > 0:
            raise ValueError(f"anneal (the sigmoid temperature) must be > 0, got {anneal}")
        if not alpha > 0:
            raise ValueError(f"alpha (the exponent of PNP-D_q) must be > 0, got {alpha}")
        if not b > 0:
            raise ValueError(f"b (the scale of PNP-I_b) must be > 0, got {b}")
        if chunk_elements < 1:
            raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}")
        self.alpha = float(alpha)
        self.anneal = float(anneal)
        self.b = float(b)
        self.chunk_elements = int(chunk_elements)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pnp_loss(
            embeddings,
            labels,
            self.variant,
            self.alpha,
            self.anneal,
            self.b,
            chunk_elements=self.chunk_elements,
        )

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, alpha={self.alpha}, anneal={self.anneal}, b={self.b}"
