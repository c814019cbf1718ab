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
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

CHUNK = 8192
_SEED_STRIDE = 1_000_003


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
                   desc: str = "sampling", shard: tuple[int, int] | None = None
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(z, synthesis_latent)`` batches covering ``n`` seeded samples (see module docstring),
    or this rank's share of them with ``shard=(rank, world_size)``."""
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
            for i in range(0, m, batch_size):
                z = z_chunk[i:i + batch_size]
                lat = model.to_synthesis(z)
                yield z, lat
                bar.update(z.shape[0])
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
