"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal Encoding",
CVPR 2017), in memory that grows with the number of images, not with its square.

The method, on the union of query and gallery images (for the VehicleID protocols that is the test list):

1. top-(k1+1) neighbour lists of every image (faiss, :mod:`reid.evaluation.knn`);
2. the k-reciprocal set R(i, k1) (j is in i's list and i in j's), expanded with R(c, k1/2) of each member c
   that shares more than 2/3 of its set with R(i, k1);
3. a sparse vector V_i over that set, weights ``exp(-d(i, j))`` normalised to sum 1, then averaged over the k2
   nearest neighbours (local query expansion);
4. Jaccard distance ``1 - m / (2 - m)`` with ``m = sum_k min(V_ik, V_jk)`` (rows of V sum to 1);
5. final distance ``(1 - λ) · Jaccard + λ · d``. The protocols rank by ``-final``.

``d`` is the cosine distance ``1 - cos`` of the L2-normalised features (range [0, 2]) where the original code
divides squared Euclidean distances by each column's maximum; for normalised features the two differ only
by that per-column scale, and ``1 - cos`` needs no full pass over all pairs.

Memory bound: neighbour lists O(N·(k1+1)²) integers while building R, the sparse V with at most
``N · k2 · |expanded set|`` non-zeros (about ``N · k2 · 1.5 (k1+1)``, ~ 4 M for VehicleID large with the
defaults), and for each block of query rows a dense (rows × gallery) float64 accumulator (128 rows at a
time, 20 MB for 19,777 images). No N × N matrix is ever built. Time grows with the pairs of images that
share a neighbour; the defaults (k1=20, k2=6, λ=0.3) are the paper's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reid.errors import InputError
from reid.evaluation.knn import knn_search

Progress = Callable[..., None]


@dataclass(frozen=True)
class RerankParams:
    """The three knobs of k-reciprocal re-ranking (paper defaults)."""

    k1: int = 20
    k2: int = 6
    lam: float = 0.3

    def check(self, num_images: int) -> None:
        if self.k1 < 1 or self.k2 < 1:
            raise InputError(f"re-ranking needs k1 >= 1 and k2 >= 1, got k1={self.k1}, k2={self.k2}")
        if self.k2 > self.k1 + 1:
            raise InputError(f"re-ranking needs k2 <= k1 + 1, got k1={self.k1}, k2={self.k2}", "lower --k2")
        if not 0.0 <= self.lam <= 1.0:
            raise InputError(f"re-ranking lambda must be in [0, 1], got {self.lam}", "check --lambda")
        if num_images < 2:
            raise InputError("re-ranking needs at least 2 images")


def _reciprocal(neighbours: np.ndarray, k: int) -> np.ndarray:
    """(N, k+1) bool: ``neighbours[i, a]`` is k-reciprocal with i (i is in its top-(k+1) too)."""
    forward = neighbours[:, : k + 1]
    backward = neighbours[forward, : k + 1]  # (N, k+1, k+1)
    return (backward == np.arange(len(neighbours))[:, None, None]).any(axis=2)


def build_v(features: np.ndarray, params: RerankParams, progress: Progress | None = None):
    """The query-expanded sparse k-reciprocal vectors V (scipy CSR, N × N, rows summing to 1)."""
    import scipy.sparse as sp

    n = len(features)
    k1 = min(params.k1, n - 1)
    half = max(1, int(round(k1 / 2)))
    _, neighbours = knn_search(features, features, k1 + 1)
    # The image itself is its own nearest neighbour, unless an exact duplicate came first: put it first.
    for i in np.flatnonzero(neighbours[:, 0] != np.arange(n)):
        row = neighbours[i]
        rest = row[row != i][:k1]
        neighbours[i] = np.concatenate(([i], rest))
    recip_full = _reciprocal(neighbours, k1)
    recip_half = _reciprocal(neighbours, half)
    sets_half = [neighbours[i, : half + 1][recip_half[i]] for i in range(n)]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for i in range(n):
        base = neighbours[i, : k1 + 1][recip_full[i]]
        base_set = set(base.tolist())
        expansion = [base]
        for c in base.tolist():
            cand = sets_half[c]
            if len(cand) and len(base_set.intersection(cand.tolist())) > 2.0 / 3.0 * len(cand):
                expansion.append(cand)
        members = np.unique(np.concatenate(expansion))
        d = 1.0 - features[members] @ features[i]
        w = np.exp(-d.astype(np.float64))
        rows.append(np.full(len(members), i, dtype=np.int64))
        cols.append(members)
        vals.append(w / w.sum())
        if progress is not None and (i + 1) % 1024 == 0:
            progress(i + 1, n)
    v = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    if params.k2 > 1:
        k2 = min(params.k2, k1 + 1)
        qe = sp.csr_matrix(
            (np.full(n * k2, 1.0 / k2), (np.repeat(np.arange(n), k2), neighbours[:, :k2].reshape(-1))),
            shape=(n, n),
        )
        v = (qe @ v).tocsr()
    if progress is not None:
        progress(n, n)
    return v


def reranked_similarity(
    features: np.ndarray,
    query_index: np.ndarray,
    gallery_index: np.ndarray,
    params: RerankParams = RerankParams(),
    progress: Progress | None = None,
    chunk: int = 128,
) -> Callable[[np.ndarray], np.ndarray]:
    """A similarity-block function (see :mod:`reid.evaluation.ranking`) giving ``-final distance``.

    ``features`` are the L2-normalised union of query and gallery images; ``query_index`` and
    ``gallery_index`` say which rows are which. ``block(rows)`` returns (len(rows), len(gallery_index))
    float32 for the queries ``query_index[rows]``.
    """
    feats = np.ascontiguousarray(features, dtype=np.float32)
    params.check(len(feats))
    v = build_v(feats, params, progress)
    v_csc = v.tocsc()
    gallery_index = np.asarray(gallery_index, dtype=np.int64)
    query_index = np.asarray(query_index, dtype=np.int64)
    gallery_feats = feats[gallery_index]
    n = len(feats)
    g_pos = np.full(n, -1, dtype=np.int64)
    g_pos[gallery_index] = np.arange(len(gallery_index))
    lam = float(params.lam)

    def shared_mass(images: np.ndarray) -> np.ndarray:
        """(len(images), G) m = sum_k min(V_ik, V_jk) for the gallery images j."""
        sub = v[images].tocoo()
        lengths = np.diff(v_csc.indptr)[sub.col]
        starts = v_csc.indptr[sub.col]
        total = int(lengths.sum())
        owner = np.repeat(np.arange(len(sub.row)), lengths)
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.repeat(starts, lengths) + offsets
        j = g_pos[v_csc.indices[pos]]
        keep = j >= 0
        contrib = np.minimum(sub.data[owner[keep]], v_csc.data[pos[keep]])
        flat = sub.row[owner[keep]] * len(gallery_index) + j[keep]
        m = np.bincount(flat, weights=contrib, minlength=len(images) * len(gallery_index))
        return m.reshape(len(images), len(gallery_index))

    def block(rows: np.ndarray) -> np.ndarray:
        images = query_index[np.asarray(rows)]
        out = np.empty((len(images), len(gallery_index)), dtype=np.float32)
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            d = 1.0 - feats[part] @ gallery_feats.T
            m = shared_mass(part)
            jaccard = 1.0 - m / (2.0 - m)
            out[start : start + chunk] = -((1.0 - lam) * jaccard + lam * d)
        return out

    return block
