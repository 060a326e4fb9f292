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
anchor's row of the similarity matrix: ``M x B`` work and memory instead of ``B^3``. No padding is needed
for uneven label counts (the pairs of a label with ``n`` samples are ``n^2`` rows), and the temporaries are
made chunk by chunk of pairs. The gradient is written by hand (checked with ``gradcheck``): the forward pass
keeps one ``M x B`` tensor, the sigmoid's local derivative with the masks already applied, and the backward
pass is one batched product and a row sum into the ``B x B`` similarity gradient, then one matrix product back
to the normalised embeddings (autograd does the normalisation).

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


def _chunk_into(
    buf: torch.Tensor,
    sim: torch.Tensor,
    anchors: torch.Tensor,
    positives: torch.Tensor,
    same: torch.Tensor,
    anneal: float,
) -> torch.Tensor:
    """Fill ``buf`` (c, B) for a chunk of (anchor, positive) pairs and return their ``R`` (c,).

    On return ``buf`` holds the local derivative ``d sigmoid / d z = y (1 - y)``, zero where ``k`` is not a
    negative of the anchor or where the reference's exponent clamp (``|z| > 50``) cuts the gradient, so the
    backward pass needs nothing else. Everything is done in place: about a dozen passes over the chunk.
    ``y = sigmoid(clamp(z, -50, 50))`` with ``z = (s_ik - s_ij) / anneal`` is the reference's
    ``1 / (1 + exp(clamp(-z, -50, 50)))`` up to rounding.
    """
    torch.index_select(sim, 0, anchors, out=buf)  # s_ik for every k
    z = buf.sub_(buf.gather(1, positives.unsqueeze(1))).div_(anneal)
    clamped = z.abs() > _CLAMP
    y = z.clamp_(-_CLAMP, _CLAMP).sigmoid_()
    y.masked_fill_(same.index_select(0, anchors), 0.0)  # only negatives count
    r = y.sum(dim=1)
    y.addcmul_(y, y, value=-1.0).masked_fill_(clamped, 0.0)  # y (1 - y), zero where clamped
    return r


def anchor_positive_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """Every (anchor, positive) pair of the batch, the anchor itself included, grouped for the backward pass.

    Anchors whose label occurs once are left out. Anchors are ordered by how many samples share their label
    and each anchor's pairs are contiguous, so the pairs of the ``count`` anchors with ``n`` positives form one
    ``(count, n)`` block; ``groups`` lists those ``(n, count)`` in order (one group for a P x K batch).
    """
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    counts = same.sum(dim=1)
    valid = torch.nonzero(counts > 1).squeeze(1)
    valid = valid[torch.argsort(counts[valid], stable=True)]
    rows, positives = torch.nonzero(same.index_select(0, valid), as_tuple=True)
    sizes, numbers = torch.unique_consecutive(counts[valid], return_counts=True)
    groups = [(int(n), int(c)) for n, c in zip(sizes.tolist(), numbers.tolist(), strict=True)]
    return valid[rows], positives, groups


class _NegativesBefore(torch.autograd.Function):
    """``R[m] = sum_k [k negative] sigmoid((S[a_m, k] - S[a_m, j_m]) / anneal)`` with ``S = X X^T``, by hand.

    Taking the normalised embeddings ``X`` rather than ``S`` lets the backward pass use ``S``'s symmetry:
    ``dX = (dS + dS^T) X`` is one matrix product where autograd would do two.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        normed: torch.Tensor,
        anchors: torch.Tensor,
        positives: torch.Tensor,
        groups: list[tuple[int, int]],
        same: torch.Tensor,
        anneal: float,
        chunk_elements: int,
    ) -> torch.Tensor:
        sim = normed @ normed.t()
        out = sim.new_empty(anchors.numel())
        # The local derivatives of every (anchor, positive, column) triple: M x B, the O(B^2 K) that is needed.
        deriv = sim.new_empty(anchors.numel(), sim.shape[1])
        for start, stop in _chunk_ranges(anchors.numel(), sim.shape[1], chunk_elements):
            out[start:stop] = _chunk_into(
                deriv[start:stop], sim, anchors[start:stop], positives[start:stop], same, anneal
            )
        ctx.save_for_backward(normed, deriv, anchors, positives)
        ctx.groups = groups
        ctx.anneal = anneal
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        normed, deriv, anchors, positives = ctx.saved_tensors
        num_cols = deriv.shape[1]
        grad_sim = deriv.new_zeros(num_cols, num_cols)
        scale = grad_out / ctx.anneal
        with torch.autocast(device_type=deriv.device.type, enabled=False):
            # dR_m/ds_ik = deriv[m, k] / anneal: each anchor's row gets the scaled sum of its pairs' rows, one
            # batched product per group (each anchor once, so a plain copy); dR_m/ds_ij = minus the row's sum.
            start = 0
            for n, count in ctx.groups:
                stop = start + n * count
                block = deriv[start:stop].view(count, n, num_cols)
                weights = scale[start:stop].view(count, 1, n)
                grad_sim.index_copy_(0, anchors[start:stop:n], torch.bmm(weights, block).squeeze(1))
                start = stop
            grad_sim.index_put_((anchors, positives), -(deriv.sum(dim=1) * scale), accumulate=True)
            grad_normed = (grad_sim + grad_sim.t()) @ normed
        return grad_normed, None, None, None, None, None, None


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
    """The PNP loss of a batch, in ``O(B^2 K)`` time and memory; see the module docstring.

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
        anchors, positives, groups = anchor_positive_pairs(labels)
        if anchors.numel() == 0:
            return torch.sum(embeddings * 0)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        normed = F.normalize(embeddings, p=2, dim=1)
        r = _NegativesBefore.apply(
            normed, anchors, positives, groups, same, float(anneal), int(chunk_elements)
        )
        per_pair = _rank_transform(r, variant, alpha, b)
        # Mean over each anchor's positives, then over anchors: per group, a (count, n) block of pairs.
        start, anchor_means = 0, []
        for n, count in groups:
            anchor_means.append(per_pair[start : start + n * count].view(count, n).mean(dim=1))
            start += n * count
        loss = torch.cat(anchor_means).mean()
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
