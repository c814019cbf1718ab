"""Seeded, streamed latent samples for the discovery methods (PCA, closed-form sigma, TCA, metrics).

Latents come in fixed chunks of :data:`CHUNK` rows, chunk ``j`` drawn with seed ``seed + j * 1000003``,
so the samples depend only on ``(n, seed)`` and never on ``batch_size``; a run over ``n`` samples
starts with the same latents as a run over fewer. Under torch.distributed, ``shard=(rank, world)``
deals the chunks round-robin (chunk ``j`` to rank ``j % world``): the ranks draw disjoint samples whose
union is the single-process stream, so mergeable statistics (:mod:`.streaming`) summed over ranks
equal the single-process ones up to float rounding::

    for z, lat in latent_batches(model, 100_000, seed=0, batch_size=4096):
        ...   # z [b, z_dim]; lat = model.to_synthesis(z) [b, w_dim]
    for z, lat in latent_batches(model, 100_000, seed=0, shard=rank_and_world()):
        ...   # this rank's share

Class-conditional models (``model.num_classes > 0``): ``classes=None`` samples the model's current
class (``set_class``); ``classes="all"`` draws each sample's class from its seed (uniform over the
classes, chunk ``j``'s labels from seed ``seed + j * 1000003 + CLASS_SEED_OFFSET``) and yields every
batch inside ``model.using_classes(labels)``, so whatever the caller synthesises from that batch
before asking for the next one uses each sample's own class::

    for z, lat in latent_batches(biggan, 10_000, classes="all"):
        acts = biggan.activations(lat, "layer")   # sample b with its own class
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

CHUNK = 8192
_SEED_STRIDE = 1_000_003
CLASS_SEED_OFFSET = 7_777_777


def check_classes(model, classes: str | None) -> str | None:
    """Validate ``classes`` (None: the model's current class; ``"all"``: one class per sample from its seed)."""
    if classes not in (None, "all"):
        raise ValueError(f"classes must be None (the model's current class) or 'all' (each sample's class drawn "
                         f"from its seed); got {classes!r}")
    if classes == "all" and getattr(model, "num_classes", 0) <= 0:
        raise ValueError(f"classes='all' needs a class-conditional model; {getattr(model, 'name', 'this model')} "
                         "has no classes (num_classes is 0): leave classes=None")
    return classes


def class_provenance(model, classes: str | None) -> str | int | list | None:
    """What a record says about classes: None (unconditional), ``"all"``, the current class index, or
    the current class vector as a list (a mixture)."""
    if getattr(model, "num_classes", 0) <= 0:
        return None
    if classes == "all":
        return "all"
    index = model.class_index
    return index if index is not None else model.class_vector.tolist()


def chunk_labels(model, j: int, m: int, seed: int) -> torch.Tensor:
    """Class indices ``[m]`` of chunk ``j`` (drawn for the whole chunk, so they do not depend on ``m``)."""
    g = torch.Generator().manual_seed(int(seed) + j * _SEED_STRIDE + CLASS_SEED_OFFSET)
    return torch.randint(model.num_classes, (CHUNK,), generator=g)[:m]


def check_count(n: int, what: str = "n_samples", minimum: int = 2) -> int:
    """Validate a sample count with a clear message."""
    if not isinstance(n, (int,)) or isinstance(n, bool):
        raise TypeError(f"{what} must be an int; got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{what} must be at least {minimum} (got {n}): statistics need samples")
    return n


def shard_size(n: int, shard: tuple[int, int]) -> int:
    """How many of the ``n`` samples rank ``shard[0]`` of ``shard[1]`` draws."""
    rank, world = shard
    return sum(min(CHUNK, n - start) for j, start in enumerate(range(0, n, CHUNK)) if j % world == rank)


def latent_batches(model, n: int, seed: int = 0, batch_size: int = 4096, progress: bool = False,
                   desc: str = "sampling", shard: tuple[int, int] | None = None, classes: str | None = None
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(z, synthesis_latent)`` batches covering ``n`` seeded samples (see module docstring),
    or this rank's share of them with ``shard=(rank, world_size)``; ``classes="all"``: one class per
    sample, active while the caller holds the batch."""
    check_classes(model, classes)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    rank, world = shard if shard is not None else (0, 1)
    if not 0 <= rank < world:
        raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < world_size; got {shard}")
    bar = tqdm(total=shard_size(n, (rank, world)), desc=desc, disable=not progress, leave=False)
    done = 0
    j = 0
    try:
        while done < n:
            m = min(CHUNK, n - done)
            if j % world != rank:
                done += m
                j += 1
                continue
            z_chunk = model.sample_z(m, seed=int(seed) + j * _SEED_STRIDE)
            labels = chunk_labels(model, j, m, seed) if classes == "all" else None
            for i in range(0, m, batch_size):
                z = z_chunk[i:i + batch_size]
                with (model.using_classes(labels[i:i + batch_size]) if labels is not None
                      else contextlib.nullcontext()):
                    lat = model.to_synthesis(z)
                    yield z, lat
                bar.update(z.shape[0])
            del z_chunk, labels, z, lat  # the next chunk is drawn with no view of this one alive: one chunk at a time
            done += m
            j += 1
    finally:
        bar.close()


def sample_latents(model, n: int, seed: int = 0, batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``n`` samples at once: ``(z [n, z_dim], lat [n, w_dim])`` (same stream as latent_batches)."""
    zs, ls = [], []
    for z, lat in latent_batches(model, n, seed, batch_size):
        zs.append(z)
        ls.append(lat)
    if not zs:
        return torch.zeros(0, model.z_dim), torch.zeros(0, model.w_dim)
    return torch.cat(zs), torch.cat(ls)
