"""Mergeable streaming statistics for direction discovery, and the memory check run before a stream starts.

Every statistic here is a set of float64 sums over samples: batches add into it, two partial
statistics add into one (``merge``), and under ``torchrun`` the ranks add theirs with one
``all_reduce`` (``reduce_across_ranks``). Memory is fixed by the sample width, never by the
number of samples::

    stats = CovarianceSketch(dim=16384, size=256, seed=0, shift=first_batch.mean(0))
    for x in batches:                        # this rank's share of the seeded samples
        stats.update(x)
    stats.reduce_across_ranks()              # no-op in a single process
    components, variances = stats.eigenpairs(k=20)

- :class:`CovarianceSums` (n, sum x, sum x x^T): exact covariance, memory D^2 (narrow spaces: w, z);
- :class:`CovarianceSketch` (n, sum x, sum x^2, sum x (x^T Omega)): a Nystrom sketch of the
  covariance, memory D x size; wide activation layers (see ``pca.py`` for the measured choice);
- :class:`CrossSums` (sums of a, b, a^T a, a^T b, b^T b): least squares from a to b and the
  covariance of b (GANSpace's regression from PCA coordinates back to the latent; regressor data);
- :class:`MomentSums` (n, sum x, sum x^2 per coordinate): means and variances (TCA's scales and sigmas);
- :class:`Extremes`: the k smallest and k largest scores of a stream and their sample indices (exact,
  memory 2k; attribute sampling's top and bottom percent);
- :class:`ModeScatterSums` (sum of x, the scatter matrix of each mode's unfolding of ``x [B, C, H, W]``,
  optionally after projecting the other modes): TCA's multilinear PCA, memory C^2 + H^2 + W^2.

:func:`rank_and_world` says which share of the samples this process draws; :func:`check_memory`
refuses a run whose estimate exceeds the memory available on the model's device, naming the
setting that fits.
"""

from __future__ import annotations

import torch


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process under torch.distributed, ``(0, 1)`` when not initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over the ranks in place (torch.distributed ``all_reduce``); unchanged in one process."""
    if rank_and_world()[1] > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


class _Sums:
    """Named float64 sums plus a sample count; subclasses say which sums and how a batch adds to them."""

    sums: dict[str, torch.Tensor]
    n: int

    def merge(self, other: _Sums) -> _Sums:
        """Add ``other``'s sums (same shapes, same shift/test matrix) into these."""
        for name, t in self.sums.items():
            t += other.sums[name].to(t.device)
        self.n += other.n
        return self

    def reduce_across_ranks(self) -> None:
        """Sum the statistics of every rank (torch.distributed ``all_reduce``); nothing in one process.

        One flat float64 buffer goes through a single collective; the backend's device rules apply
        (gloo reduces CPU tensors, NCCL CUDA tensors: the sums live on the model's device)."""
        import torch.distributed as dist

        if rank_and_world()[1] == 1:
            return
        names = list(self.sums)
        flat = torch.cat([self.sums[k].reshape(-1) for k in names]
                         + [torch.tensor([float(self.n)], dtype=torch.float64, device=self.sums[names[0]].device)])
        dist.all_reduce(flat)
        i = 0
        for k in names:
            m = self.sums[k].numel()
            self.sums[k].copy_(flat[i:i + m].view_as(self.sums[k]))
            i += m
        self.n = int(round(float(flat[-1])))

    def _check_finite(self) -> None:
        # NaN/inf in any sample propagate into the sums: one check at the end instead of one per batch
        if not all(bool(torch.isfinite(t).all()) for t in self.sums.values()):
            raise ValueError("samples contain NaN or inf (does the model produce finite outputs?)")


def _as_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.reshape(x.shape[0], -1).to(device)
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x


class CovarianceSums(_Sums):
    """Streaming mean and covariance, summed in float64 (shifted by ``shift``, by default the first
    batch's mean, for accuracy). Memory ``O(D^2)`` whatever the number of samples.

    ``acc.update(x [B, D])`` any number of times, then ``mean, cov = acc.finalize()``. Each batch's
    product ``x^T x`` is taken in the batch's own precision (float32 for float32 samples: after the
    shift, its relative error is about 1e-7, and it runs about 1.7x faster than a float64 product) and
    added to float64 sums; float64 samples stay float64 throughout. Ranks must share ``shift`` to merge.
    """

    def __init__(self, dim: int, device: torch.device | str = "cpu", shift: torch.Tensor | None = None):
        self.dim = dim
        self.n = 0
        self.shift = None if shift is None else shift.reshape(-1).double().to(device)
        self.sums = {"s1": torch.zeros(dim, dtype=torch.float64, device=device),
                     "s2": torch.zeros(dim, dim, dtype=torch.float64, device=device)}

    @staticmethod
    def bytes_needed(dim: int) -> int:
        """Sums, the finalised covariance and the eigensolver's copy: three D x D float64 matrices."""
        return 3 * dim * dim * 8

    def update(self, x: torch.Tensor) -> None:
        x = _as_float(x, self.sums["s1"].device)
        if x.shape[1] != self.dim:
            raise ValueError(f"expected samples of dimension {self.dim}; got {x.shape[1]}")
        if self.shift is None:  # in the samples' precision, so that the shift removed is the one added back
            self.shift = x.double().mean(0).to(x.dtype).double()
        x = x - self.shift.to(x.dtype)
        self.n += x.shape[0]
        self.sums["s1"] += x.sum(0, dtype=torch.float64)
        self.sums["s2"] += (x.t() @ x).double()

    def finalize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean [D], covariance [D, D])``, float64."""
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance; got {self.n}")
        self._check_finite()
        m = self.sums["s1"] / self.n
        cov = (self.sums["s2"] - self.n * torch.outer(m, m)) / (self.n - 1)
        cov = 0.5 * (cov + cov.t())
        return m + self.shift, cov


def random_basis(dim: int, size: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Orthonormal Gaussian test matrix ``[dim, size]`` (float32), the same on every rank for a seed."""
    g = torch.Generator().manual_seed(int(seed))
    q, _ = torch.linalg.qr(torch.randn(dim, size, generator=g, dtype=torch.float64))
    return q.float().to(device)


class CovarianceSketch(_Sums):
    """The covariance ``C`` seen through a test matrix: sums giving ``C @ omega`` ``[D, size]``, the mean
    and the total variance; memory ``O(D x size)`` whatever the number of samples.

    ``omega``: orthonormal ``[D, size]`` (:func:`random_basis` for the first pass; the previous pass's
    orthonormalised ``C @ omega`` for a subspace-iteration pass). ``shift``: subtracted before the
    products, which run in float32 and add to float64 sums (ranks must share it). ``eigenpairs(k)`` is
    the Nystrom approximation ``C ~ Y (omega^T Y)^+ Y^T`` (Tropp et al. 2017, with their small diagonal
    shift for stability).
    """

    def __init__(self, omega: torch.Tensor, shift: torch.Tensor):
        self.omega = omega.float()
        self.dim, self.size = omega.shape
        self.shift = shift.reshape(-1).float().to(omega.device)
        dev = omega.device
        self.n = 0
        self.sums = {"s1": torch.zeros(self.dim, dtype=torch.float64, device=dev),
                     "sq": torch.zeros(self.dim, dtype=torch.float64, device=dev),
                     "y": torch.zeros(self.dim, self.size, dtype=torch.float64, device=dev)}

    @staticmethod
    def bytes_needed(dim: int, size: int) -> int:
        """Sums (float64), test matrix (float32) and the final factorisation's copies."""
        return dim * size * (8 + 4 + 3 * 8) + 3 * dim * 8

    def update(self, x: torch.Tensor) -> None:
        x = _as_float(x, self.omega.device)
        if x.shape[1] != self.dim:
            raise ValueError(f"expected samples of dimension {self.dim}; got {x.shape[1]}")
        x = x.float() - self.shift
        self.n += x.shape[0]
        self.sums["s1"] += x.sum(0, dtype=torch.float64)
        self.sums["sq"] += x.pow(2).sum(0, dtype=torch.float64)
        self.sums["y"] += (x.t() @ (x @ self.omega)).double()

    def mean(self) -> torch.Tensor:
        return self.sums["s1"] / self.n + self.shift.double()

    def total_variance(self) -> float:
        m = self.sums["s1"] / self.n
        return float((self.sums["sq"] - self.n * m * m).sum() / (self.n - 1))

    def product(self) -> torch.Tensor:
        """``C @ omega`` ``[D, size]`` (float64), C the (unbiased) covariance of the samples."""
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance; got {self.n}")
        self._check_finite()
        m = self.sums["s1"] / self.n
        om = self.omega.double()
        return (self.sums["y"] - self.n * torch.outer(m, m @ om)) / (self.n - 1)

    def eigenpairs(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` eigenvectors ``[k, D]`` (rows, float64) and eigenvalues ``[k]`` of the Nystrom approximation."""
        y = self.product()
        om = self.omega.double()
        nu = torch.finfo(torch.float64).eps * self.dim * float(y.norm()) + 1e-300
        y_nu = y + nu * om
        b = om.t() @ y_nu
        b = 0.5 * (b + b.t())
        chol, info = torch.linalg.cholesky_ex(b)
        if int(info) != 0:  # the sketch is numerically singular: fall back to an eigen-solve of B
            evals, evecs = torch.linalg.eigh(b)
            keep = evals > evals.max() * 1e-12
            f = y_nu @ (evecs[:, keep] / evals[keep].sqrt())
        else:
            f = torch.linalg.solve_triangular(chol, y_nu.t(), upper=False).t()
        u, s, _ = torch.linalg.svd(f, full_matrices=False)
        k = min(k, u.shape[1])
        return u[:, :k].t().contiguous(), (s[:k] ** 2 - nu).clamp(min=0)


class CrossSums(_Sums):
    """Sums for least squares from ``a [B, p]`` to ``b [B, q]`` (both centred at the end) and ``b``'s covariance.

        cs = CrossSums(p=20, q=512); cs.update(coords, latents); sol, r2 = cs.solve()   # sol [p, q]
    """

    def __init__(self, p: int, q: int, device: torch.device | str = "cpu"):
        self.n = 0
        z = dict(dtype=torch.float64, device=device)
        self.sums = {"sa": torch.zeros(p, **z), "sb": torch.zeros(q, **z), "aa": torch.zeros(p, p, **z),
                     "ab": torch.zeros(p, q, **z), "bb": torch.zeros(q, q, **z)}

    def update(self, a: torch.Tensor, b: torch.Tensor) -> None:
        dev = self.sums["sa"].device
        a = a.reshape(a.shape[0], -1).to(dev).double()
        b = b.reshape(b.shape[0], -1).to(dev).double()
        self.n += a.shape[0]
        self.sums["sa"] += a.sum(0)
        self.sums["sb"] += b.sum(0)
        self.sums["aa"] += a.t() @ a
        self.sums["ab"] += a.t() @ b
        self.sums["bb"] += b.t() @ b

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sums["sa"] / self.n, self.sums["sb"] / self.n

    def covariance_b(self) -> torch.Tensor:
        """Unbiased covariance of ``b`` ``[q, q]``."""
        mb = self.sums["sb"] / self.n
        return (self.sums["bb"] - self.n * torch.outer(mb, mb)) / (self.n - 1)

    def solve(self) -> tuple[torch.Tensor, float]:
        """``(M [p, q], r2)``: ``M`` minimises ``||(a - mean a) M - (b - mean b)||`` (normal equations, float64)."""
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a regression; got {self.n}")
        self._check_finite()
        ma, mb = self.means()
        aa = self.sums["aa"] - self.n * torch.outer(ma, ma)
        ab = self.sums["ab"] - self.n * torch.outer(ma, mb)
        bb = self.sums["bb"] - self.n * torch.outer(mb, mb)
        sol = torch.linalg.lstsq(aa, ab).solution
        resid = float(torch.trace(bb) - 2 * (sol * ab).sum() + (sol * (aa @ sol)).sum())
        r2 = 1.0 - resid / max(float(torch.trace(bb)), 1e-30)
        return sol, r2


class MomentSums(_Sums):
    """Per-coordinate mean and variance of samples ``[B, D]`` (float64 sums of ``x - shift``)::

        m = MomentSums(shift=first_batch.mean(0)); m.update(x); m.mean(), m.variance(), m.pooled_variance()
    """

    def __init__(self, shift: torch.Tensor):
        self.shift = shift.reshape(-1).double()
        self.n = 0
        z = dict(dtype=torch.float64, device=self.shift.device)
        self.sums = {"s1": torch.zeros(self.shift.numel(), **z), "sq": torch.zeros(self.shift.numel(), **z)}

    def update(self, x: torch.Tensor) -> None:
        y = x.reshape(x.shape[0], -1).to(self.shift.device).double() - self.shift
        self.n += y.shape[0]
        self.sums["s1"] += y.sum(0)
        self.sums["sq"] += y.pow(2).sum(0)

    def _centred_sq(self) -> torch.Tensor:
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a variance; got {self.n}")
        self._check_finite()
        m = self.sums["s1"] / self.n
        return (self.sums["sq"] - self.n * m * m).clamp(min=0)

    def mean(self) -> torch.Tensor:
        return self.sums["s1"] / self.n + self.shift

    def variance(self) -> torch.Tensor:
        """Unbiased variance of each coordinate ``[D]``."""
        return self._centred_sq() / (self.n - 1)

    def pooled_variance(self) -> float:
        """Variance of every value of the samples, each centred by its coordinate's mean (``(x - x.mean(0)).var()``)."""
        return float(self._centred_sq().sum() / (self.n * self.shift.numel() - 1))


def mode_scatter(x: torch.Tensor, mode: int) -> torch.Tensor:
    """Scatter matrix of the mode-``mode`` unfolding of ``x [N, C, H, W]``, summed over samples."""
    if mode == 0:
        return torch.einsum("nchw,ndhw->cd", x, x)
    if mode == 1:
        return torch.einsum("nchw,ncgw->hg", x, x)
    return torch.einsum("nchw,nchv->wv", x, x)


def project_modes(x: torch.Tensor, bases: list[torch.Tensor], skip: int) -> torch.Tensor:
    """Multiply ``x [N, C, H, W]`` by ``basis^T`` along every mode except ``skip``."""
    if skip != 0:
        x = torch.einsum("nchw,ci->nihw", x, bases[0])
    if skip != 1:
        x = torch.einsum("nchw,hj->ncjw", x, bases[1])
    if skip != 2:
        x = torch.einsum("nchw,wk->nchk", x, bases[2])
    return x


class ModeScatterSums(_Sums):
    """Per-mode scatter matrices of activation tensors ``x [B, C, H, W]`` (TCA's multilinear PCA), float64 sums
    of ``y = x - shift``; with ``bases`` (one ``[n_mode, r_mode]`` per mode), each mode's scatter is taken after
    projecting the other modes onto their bases. Memory: the scatters (C^2 + H^2 + W^2) and one sum ``[C, H, W]``
    per mode, whatever the number of samples::

        acc = ModeScatterSums(shift=first_batch.mean(0)); acc.update(x); s0 = acc.scatter(0)   # centred, summed
    """

    def __init__(self, shift: torch.Tensor, modes: tuple[int, ...] = (0, 1, 2),
                 bases: list[torch.Tensor] | None = None):
        self.shift = shift.double()
        self.modes = tuple(modes)
        self.bases = None if bases is None else [b.double().to(self.shift.device) for b in bases]
        self.n = 0
        probe = torch.zeros(1, *self.shift.shape, dtype=torch.float64, device=self.shift.device)
        self.sums = {}
        for m in self.modes:
            p = probe if self.bases is None else project_modes(probe, self.bases, skip=m)
            self.sums[f"s1_{m}"] = torch.zeros(p.shape[1:], dtype=torch.float64, device=self.shift.device)
            self.sums[f"scatter_{m}"] = torch.zeros(p.shape[m + 1], p.shape[m + 1], dtype=torch.float64,
                                                    device=self.shift.device)

    def update(self, x: torch.Tensor) -> None:
        y = x.to(self.shift.device).double() - self.shift
        self.n += y.shape[0]
        for m in self.modes:
            ym = y if self.bases is None else project_modes(y, self.bases, skip=m)
            self.sums[f"s1_{m}"] += ym.sum(0)
            self.sums[f"scatter_{m}"] += mode_scatter(ym, m)

    def mean(self, mode: int | None = None) -> torch.Tensor:
        """Mean of the samples (projected as for ``mode`` when bases are given; else shifted back)."""
        m = self.sums[f"s1_{self.modes[0] if mode is None else mode}"] / self.n
        return m + self.shift if self.bases is None else m

    def scatter(self, mode: int, centre: bool = True) -> torch.Tensor:
        """The mode's scatter summed over samples, of the samples minus their mean (``centre``) or of ``x - shift``."""
        if self.n < 1:
            raise ValueError("no samples were given to the multilinear PCA")
        self._check_finite()
        s = self.sums[f"scatter_{mode}"]
        if centre:
            mean = self.sums[f"s1_{mode}"] / self.n
            s = s - self.n * mode_scatter(mean.unsqueeze(0), mode)
        return s


class Extremes:
    """The ``k`` smallest and ``k`` largest of a stream of scores with their sample indices, exact, in one pass;
    memory ``4 k`` numbers whatever the length of the stream (ties keep the earlier sample)::

        ex = Extremes(k=100); ex.update(scores [B], index [B]); low, high = ex.indices(k=80)
    """

    def __init__(self, k: int):
        self.k = int(k)
        empty = (torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long))
        self.low, self.high = empty, empty

    @staticmethod
    def _keep(scores: torch.Tensor, index: torch.Tensor, k: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.argsort(index)                      # ties resolved by sample index, then by score
        scores, index = scores[order], index[order]
        order = torch.sort(scores, stable=True, descending=largest).indices[:k]
        return scores[order], index[order]

    def update(self, scores: torch.Tensor, index: torch.Tensor) -> None:
        scores, index = scores.detach().double().cpu().reshape(-1), index.cpu().reshape(-1)
        self.low = self._keep(torch.cat([self.low[0], scores]), torch.cat([self.low[1], index]), self.k, False)
        self.high = self._keep(torch.cat([self.high[0], scores]), torch.cat([self.high[1], index]), self.k, True)

    def indices(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample indices of the ``k`` (<= the ``k`` kept) smallest and largest, each in increasing score order."""
        if k > self.k:
            raise ValueError(f"kept the {self.k} extremes; asked for {k}")
        return self.low[1][:k], self.high[1][:k].flip(0)


# ------------------------------------------------------------------------------- memory check
def available_bytes(device: torch.device | str) -> int:
    """Memory free for a run on ``device``: CUDA's free memory, else the host's MemAvailable (capped by
    the cgroup's limit when the process runs in a container)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    avail: int | None = None
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except ImportError:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    if avail is None:
        avail = 1 << 62
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, avail)


def check_memory(estimate: dict[str, int], device: torch.device | str, fix: str,
                 available: int | None = None) -> None:
    """Raise ``MemoryError`` before a run whose estimated parts ``{what: bytes}`` exceed 90% of what is available.

        check_memory({"covariance": 2 << 30, "batch": 1 << 28}, "cpu", fix="use estimator='sketch'")
    """
    need = sum(estimate.values())
    have = available_bytes(device) if available is None else available
    if need > 0.9 * have:
        parts = ", ".join(f"{k} {v / 2**20:,.0f} MB" for k, v in estimate.items())
        raise MemoryError(f"this run would need about {need / 2**20:,.0f} MB on {torch.device(device)} ({parts}) "
                          f"but {have / 2**20:,.0f} MB are available; {fix}")
