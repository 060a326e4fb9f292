"""The P x K sampler's guarantees: identities and counts per batch, determinism, DDP shares, resume."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from reid.data.sampler import PKSampler
from reid.errors import TrainingError

# 30 identities with 1..9 images each, shuffled so that identities are not contiguous in the dataset.
_rng = np.random.default_rng(0)
LABELS = _rng.permutation(np.repeat(np.arange(100, 130), _rng.integers(1, 10, 30))).tolist()


def _check_batch(batch: list[int], p: int, k: int) -> None:
    counts = Counter(LABELS[i] for i in batch)
    assert len(batch) == p * k
    assert len(counts) == p and set(counts.values()) == {k}
    # identity by identity: each identity's k indices are contiguous
    ids = [LABELS[i] for i in batch]
    assert [ids[j * k] for j in range(p)] == list(dict.fromkeys(ids))


def test_every_batch_has_p_identities_with_k_images_each():
    sampler = PKSampler(LABELS, p=6, k=4, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        _check_batch(batch, 6, 4)
        assert all(0 <= i < len(LABELS) for i in batch)


def test_small_identities_are_sampled_with_replacement_or_skipped():
    labels = [0] * 2 + [1] * 5 + [2] * 6 + [3] * 4
    batches = list(PKSampler(labels, p=4, k=4, batches_per_epoch=5))
    for batch in batches:
        small = [i for i in batch if labels[i] == 0]
        assert len(small) == 4 and set(small) == {0, 1}  # both of its images, some twice
        # larger identities: k distinct images
        for ident in (1, 2, 3):
            assert len({i for i in batch if labels[i] == ident}) == 4
    kept = PKSampler(labels, p=3, k=4, skip_small=True)
    assert 0 not in kept.identities
    assert all(labels[i] != 0 for batch in kept for i in batch)


def test_deterministic_for_a_seed_and_different_across_seeds_and_epochs():
    first = list(PKSampler(LABELS, p=5, k=2, seed=11))
    assert first == list(PKSampler(LABELS, p=5, k=2, seed=11))
    assert first != list(PKSampler(LABELS, p=5, k=2, seed=12))
    sampler = PKSampler(LABELS, p=5, k=2, seed=11)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_epoch_length_is_one_pass_over_chunks_of_k_unless_given():
    labels = [0] * 8 + [1] * 5 + [2] * 1 + [3] * 4  # chunks of 4: 2 + 2 + 1 + 1 = 6
    assert len(PKSampler(labels, p=2, k=4)) == 3
    assert len(PKSampler(labels, p=2, k=4, skip_small=True)) == 2  # 2 + 2 + 1 = 5 chunks
    sampler = PKSampler(labels, p=2, k=4, batches_per_epoch=10)
    assert len(sampler) == len(list(sampler)) == 10


def test_one_epoch_visits_almost_every_image():
    sampler = PKSampler(LABELS, p=4, k=4, seed=0)
    seen = {i for batch in sampler for i in batch}
    assert len(seen) >= 0.8 * len(LABELS)


@pytest.mark.parametrize(("replicas", "p", "k"), [(2, 6, 4), (3, 6, 2), (4, 5, 3)])
def test_ddp_shares_are_disjoint_and_cover_the_global_batch(replicas, p, k):
    samplers = [PKSampler(LABELS, p=p, k=k, seed=5, num_replicas=replicas, rank=r) for r in range(replicas)]
    reference = PKSampler(LABELS, p=p, k=k, seed=5)
    share = (p * k) // replicas
    assert all(len(s) == len(reference) and s.batch_size == share for s in samplers)
    for epoch in (0, 1):
        for s in [*samplers, reference]:
            s.set_epoch(epoch)
        for global_batch, *shares in zip(reference, *samplers, strict=True):
            assert all(len(b) == share for b in shares)
            flat = [i for b in shares for i in b]
            assert flat == global_batch[: share * replicas]  # disjoint positions, in order
            if p % replicas == 0:  # whole identities on each rank
                per_rank = [{LABELS[i] for i in b} for b in shares]
                assert sum(len(ids) for ids in per_rank) == p


def test_resume_from_state_dict_continues_with_the_same_batches():
    sampler = PKSampler(LABELS, p=4, k=2, seed=9)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2)
    it = iter(sampler)
    seen = [next(it) for _ in range(3)]
    state = sampler.state_dict()
    assert state["epoch"] == 2 and state["position"] == 3

    resumed = PKSampler(LABELS, p=4, k=2, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # a training loop calls this at the top of the epoch; the position is kept
    assert seen + list(resumed) == full
    resumed.set_epoch(3)  # the next epoch starts from its beginning
    assert len(list(resumed)) == len(resumed)


def test_state_dict_can_record_batches_actually_trained():
    sampler = PKSampler(LABELS, p=4, k=2, seed=9)
    it = iter(sampler)
    for _ in range(5):  # a prefetching loader ran ahead of training
        next(it)
    state = sampler.state_dict(batches_done=2)
    resumed = PKSampler(LABELS, p=4, k=2, seed=9)
    resumed.load_state_dict(state)
    assert list(resumed) == list(PKSampler(LABELS, p=4, k=2, seed=9))[2:]


def test_resume_with_other_settings_is_refused():
    state = PKSampler(LABELS, p=4, k=2).state_dict()
    with pytest.raises(TrainingError, match="p=4"):
        PKSampler(LABELS, p=5, k=2).load_state_dict(state)


def test_too_few_identities_is_a_training_error_naming_the_setting():
    with pytest.raises(TrainingError, match="only 3 identities.*p=4.*data.p"):
        PKSampler([0, 0, 1, 1, 2, 2], p=4, k=2)
    with pytest.raises(TrainingError, match="skip_small"):
        PKSampler([0, 0, 0, 1, 1, 1, 2, 3], p=3, k=3, skip_small=True)
    with pytest.raises(TrainingError, match="empty"):
        PKSampler([], p=1, k=1)


def test_works_as_a_dataloader_batch_sampler():
    dataset = torch.utils.data.TensorDataset(torch.arange(len(LABELS)), torch.tensor(LABELS))
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=PKSampler(LABELS, p=3, k=4, seed=1))
    assert len(loader) == len(loader.batch_sampler)
    for indices, labels in loader:
        assert indices.shape == (12,)
        assert torch.equal(labels, torch.tensor([LABELS[i] for i in indices.tolist()]))
        assert sorted(Counter(labels.tolist()).values()) == [4, 4, 4]
