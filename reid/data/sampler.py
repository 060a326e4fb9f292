"""The P x K batch sampler: every batch holds ``p`` identities with ``k`` images each.

Ranking losses such as PNP need positives in the batch, so batches are built from identities, not images.

How an epoch is built (deterministic for ``(seed, epoch)``, identical on every rank):

* each usable identity's images are shuffled and cut into chunks of ``k``; a last partial chunk is filled up
  with other images of the same identity, and an identity with fewer than ``k`` images gets one chunk that
  repeats some of its images (sampling with replacement) unless ``skip_small`` drops such identities;
* a batch takes one chunk from each of ``p`` distinct identities, drawn with probability proportional to the
  chunks they have left, so identities with many images are spread over the epoch; when fewer than ``p``
  identities have chunks left, the emptied identities are re-shuffled and re-cut (nothing is discarded);
* the default epoch length is ``total chunks // p``: about one pass over every usable image.

Under DDP every rank builds the same global batch of ``p * k`` indices (ordered identity by identity) and takes
the ``rank``-th of ``num_replicas`` contiguous slices of ``(p * k) // num_replicas`` indices, so the shares are
disjoint and their union is the global batch (minus ``(p * k) % num_replicas`` trailing indices, if that is not
zero). Identities stay whole on a rank whenever ``k`` divides the share, i.e. when ``num_replicas`` divides
``p``.

Why not pytorch-metric-learning's ``MPerClassSampler``: it draws from the process-global NumPy generator (not
reproducible per seed and epoch, nor resumable), yields a flat index list rather than batches (so a
``DataLoader`` cannot keep identities together across ranks), has no notion of a DDP rank, and samples
identities uniformly, which under-visits identities with many images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from reid.errors import ConfigError, TrainingError


class PKSampler:
    """Batch sampler for ``DataLoader(dataset, batch_sampler=PKSampler(labels, p, k))``.

    ``labels[i]`` is the identity of dataset item ``i``. Each yielded batch is this rank's list of
    ``(p * k) // num_replicas`` dataset indices; ``len()`` is the number of batches per epoch. Call
    ``set_epoch(epoch)`` before each epoch; ``state_dict()`` / ``load_state_dict()`` let a resumed run continue
    with exactly the batches it would have seen.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        seed: int = 0,
        skip_small: bool = False,
        batches_per_epoch: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if p < 1 or k < 1:
            raise ConfigError(
                f"a P x K batch needs p >= 1 and k >= 1, got p={p}, k={k}", "set data.p and data.k"
            )
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ConfigError(f"rank {rank} is not in [0, {num_replicas}) (num_replicas={num_replicas})")
        if (p * k) // num_replicas < 1:
            raise ConfigError(
                f"a batch of p*k={p * k} images cannot be shared by {num_replicas} processes",
                "raise data.p or data.k, or use fewer processes",
            )
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ConfigError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
        self.p, self.k, self.seed = int(p), int(k), int(seed)
        self.skip_small = bool(skip_small)
        self.num_replicas, self.rank = int(num_replicas), int(rank)

        labels_arr = np.asarray(labels).reshape(-1)
        if labels_arr.size == 0:
            raise TrainingError(
                "the training set is empty: no labels to sample from", "check the dataset split"
            )
        order = np.argsort(labels_arr, kind="stable")
        ids, starts, counts = np.unique(labels_arr[order], return_index=True, return_counts=True)
        groups = [order[s : s + c] for s, c in zip(starts, counts, strict=True)]
        usable = [i for i, c in enumerate(counts) if c >= self.k or not self.skip_small]
        if len(usable) < self.p:
            small = int((counts < self.k).sum())
            detail = (
                f" ({small} with fewer than k={self.k} images are skipped)"
                if self.skip_small and small
                else ""
            )
            raise TrainingError(
                f"only {len(usable)} identities are usable{detail}, but each batch needs p={self.p}",
                "use a smaller data.p"
                + (" or turn off the sampler's skip_small" if self.skip_small and small else "")
                + (", or a larger dataset" if not detail else ""),
            )
        self.identities = ids[usable]
        self._groups = [groups[i] for i in usable]
        self._chunk_counts = np.array([-(-len(g) // self.k) for g in self._groups], dtype=np.int64)
        default_len = max(1, int(self._chunk_counts.sum()) // self.p)
        self.batches_per_epoch = int(batches_per_epoch) if batches_per_epoch is not None else default_len
        self.epoch = 0
        self._start = 0  # first batch of the next iteration (non-zero after load_state_dict)
        self._position = 0  # batches yielded so far in the current epoch

    @property
    def batch_size(self) -> int:
        """Indices per yielded batch on this rank."""
        return (self.p * self.k) // self.num_replicas

    def __len__(self) -> int:
        return self.batches_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to iterate next; a resumed position is kept only when ``epoch`` is the loaded one."""
        if epoch != self.epoch:
            self._start = 0
        self.epoch = int(epoch)
        self._position = self._start

    def _chunks(self, rng: np.random.Generator, group: np.ndarray) -> list[np.ndarray]:
        """Cut a shuffled identity into chunks of ``k``, filling the last one with its other images."""
        k = self.k
        perm = rng.permutation(group)
        if len(perm) < k:
            return [np.concatenate([perm, rng.choice(group, k - len(perm), replace=True)])]
        full = len(perm) // k
        chunks = list(perm[: full * k].reshape(full, k))
        rest = len(perm) - full * k
        if rest:
            tail = perm[full * k :]
            fill = rng.choice(perm[: full * k], k - rest, replace=False)
            chunks.append(np.concatenate([tail, fill]))
        return chunks

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every global batch (``p * k`` indices, identity by identity) of ``epoch``; the same on every rank."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        queues: list[list[np.ndarray]] = [self._chunks(rng, g) for g in self._groups]
        left = np.array([len(q) for q in queues], dtype=np.int64)
        batches: list[list[int]] = []
        for _ in range(self.batches_per_epoch):
            active = np.flatnonzero(left)
            if len(active) < self.p:
                for i in np.flatnonzero(left == 0):
                    queues[i] = self._chunks(rng, self._groups[i])
                    left[i] = len(queues[i])
                active = np.flatnonzero(left)
            weights = left[active].astype(np.float64)
            chosen = rng.choice(active, size=self.p, replace=False, p=weights / weights.sum())
            batch: list[int] = []
            for i in chosen:
                left[i] -= 1
                batch.extend(int(x) for x in queues[i][left[i]])
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        start, self._start = self._start, 0
        share = self.batch_size
        lo = self.rank * share
        batches = self.global_batches(self.epoch)
        for position in range(start, len(batches)):
            self._position = position + 1
            yield batches[position][lo : lo + share]

    def state_dict(self, batches_done: int | None = None) -> dict[str, Any]:
        """Where this epoch stands. A ``DataLoader`` with workers prefetches batches from the sampler, so the
        number it has yielded can run ahead of training: pass ``batches_done`` (batches actually trained on in
        this epoch) to record that instead."""
        position = self._position if batches_done is None else int(batches_done)
        return {
            "epoch": self.epoch,
            "position": position,
            "seed": self.seed,
            "p": self.p,
            "k": self.k,
            "num_identities": len(self.identities),
            "batches_per_epoch": self.batches_per_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the next iteration yields the rest of the saved epoch's batches."""
        mine = self.state_dict()
        for key in ("seed", "p", "k", "num_identities", "batches_per_epoch"):
            if key in state and state[key] != mine[key]:
                raise TrainingError(
                    f"the checkpoint's sampler state has {key}={state[key]}, this run has {key}={mine[key]}",
                    "resume with the same data and sampler settings, or start a new run",
                )
        position = int(state.get("position", 0))
        if not 0 <= position <= self.batches_per_epoch:
            raise TrainingError(f"the checkpoint's sampler position {position} is outside this epoch")
        self.epoch = int(state.get("epoch", 0))
        self._start = self._position = position
