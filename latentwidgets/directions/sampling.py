"""Seeded, streamed latent samples for the discovery methods (PCA, closed-form sigma, TCA, metrics).

Latents come in fixed chunks of :data:`CHUNK` rows, chunk ``j`` drawn with seed ``seed + j * 1000003``,
so the samples depend only on ``(n, seed)`` and never on ``batch_size``; a run over ``n`` samples
starts with the same latents as a run over fewer::

    for z, lat in latent_batches(model, 100_000, seed=0, batch_size=4096):
        ...   # z [b, z_dim]; lat = model.to_synthesis(z) [b, w_dim]
"""

from __future__ import annotations

from typing import Iterator, Tuple

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


def latent_batches(model, n: int, seed: int = 0, batch_size: int = 4096, progress: bool = False,
                   desc: str = "sampling") -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(z, synthesis_latent)`` batches covering ``n`` seeded samples (see module docstring)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    bar = tqdm(total=n, desc=desc, disable=not progress, leave=False)
    done = 0
    j = 0
    try:
        while done < n:
            m = min(CHUNK, n - done)
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


def sample_latents(model, n: int, seed: int = 0, batch_size: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """All ``n`` samples at once: ``(z [n, z_dim], lat [n, w_dim])`` (same stream as latent_batches)."""
    zs, ls = [], []
    for z, lat in latent_batches(model, n, seed, batch_size):
        zs.append(z)
        ls.append(lat)
    if not zs:
        return torch.zeros(0, model.z_dim), torch.zeros(0, model.w_dim)
    return torch.cat(zs), torch.cat(ls)


class CovarianceAccumulator:
    """Streaming mean and covariance, summed in float64 (shifted by the first batch's mean for accuracy).

    ``acc.update(x [B, D])`` any number of times, then ``mean, cov = acc.finalize()``. Memory is
    ``O(D^2)`` whatever the number of samples, so a million samples of w cost nothing more. Each
    batch's product ``x^T x`` is taken in the batch's own precision (float32 for float32 samples:
    after the shift, its relative error is about 1e-7, and it runs about 1.7x faster than a float64
    product) and added to float64 sums; float64 samples stay float64 throughout.
    """

    def __init__(self, dim: int, device: torch.device | str = "cpu"):
        self.dim = dim
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.s1 = torch.zeros(dim, dtype=torch.float64, device=device)
        self.s2 = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(x.shape[0], -1).to(self.s1.device)
        if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        if x.shape[1] != self.dim:
            raise ValueError(f"expected samples of dimension {self.dim}; got {x.shape[1]}")
        if self.shift is None:  # in the samples' precision, so that the shift removed is the one added back
            self.shift = x.double().mean(0).to(x.dtype).double()
        x = x - self.shift.to(x.dtype)
        self.n += x.shape[0]
        self.s1 += x.sum(0, dtype=torch.float64)
        self.s2 += (x.t() @ x).double()

    def finalize(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance; got {self.n}")
        # NaN/inf in any sample propagate into the sums: one check here instead of one per batch
        if not (torch.isfinite(self.s2).all() and torch.isfinite(self.s1).all()):
            raise ValueError("samples contain NaN or inf (does the model produce finite outputs?)")
        m = self.s1 / self.n
        cov = (self.s2 - self.n * torch.outer(m, m)) / (self.n - 1)
        cov = 0.5 * (cov + cov.t())
        return m + self.shift, cov
