"""GANSpace (Härkönen et al. 2020): principal components of sampled latents or activations.

Style-based models: PCA on ``w = mapping(z)`` over many samples; the directions live in w and one
slider unit (sigma) is the standard deviation of the samples' projections onto each component.
Models without a mapping network: PCA of a named layer's activations, then a least-squares
regression from the (standardised) PCA coordinates back to the latent over fresh samples; each row
of the solution, normalised, is a latent direction (GANSpace's BigGAN recipe)::

    d = pca_directions(model, n_components=10)                  # w-space PCA on 100k samples
    d.info["explained_variance_ratio"]                          # per component
    d = pca_directions(vae, layer="fc", regression_samples=10_000)   # activation PCA -> z

Interrupting (Ctrl-C / the notebook's stop button) while samples stream in keeps what was
accumulated: the record then says how many samples it used (``samples``).

Estimators (``estimator="auto"`` picks by the width D of what is analysed):

- ``"covariance"`` (D <= 4096: w, z, narrow layers): batches stream into a covariance summed in
  float64 (memory O(D^2), so a million samples fit) and its symmetric eigendecomposition. For the
  latent sizes of style-based models (D = 32..512) this is accurate to float32 rounding and far
  faster than incremental PCA, which GANSpace used.
- ``"sketch"`` (wider layers): a single-pass Nystrom sketch of the covariance. Each batch adds
  ``x^T (x Omega)`` for a fixed orthonormal test matrix Omega ``[D, sketch_size]`` (plus sum x and
  sum x^2) to float64 sums; at the end ``C ~ Y (Omega^T Y)^+ Y^T`` with ``Y = C Omega`` gives the
  components. Memory is ``O(D x sketch_size + batch x D)`` whatever the number of samples, the sums
  merge across processes (:mod:`.streaming`), and the samples are generated once.
  ``passes=p`` > 1 turns it into subspace iteration over regenerated batches (Omega <- orth(C Omega)
  between passes), for spectra where one pass is not enough.
- ``"lowrank"``: collects every sample and runs ``torch.pca_lowrank`` (memory O(N x D); kept for
  comparison; the memory check refuses it when it does not fit).

Why a single-pass sketch: measured on the faces DCGAN's ``main.3`` (D = 16,384, 2 CPU threads),
generating the activations costs about 0.9-1.2 s per 1,000 samples, so every extra pass over
regenerated samples costs more than the whole sketch; the sketch's own cost is about 0.1-0.3 s per
1,000 samples at sketch sizes 128-256 (scikit-learn's IncrementalPCA, GANSpace's estimator, at its
batch size 100: 2.6 s per 1,000). Accuracy on N = 20,000 against exact PCA (ARPACK), fit k = 20,
largest principal angle of the top 10 / variance captured by the top 20 relative to exact:
sketch size 64: 24 deg / 0.991; 128: 8.3 deg / 0.9986; 256: 1.5 deg / 0.99985 (this layer's
eigenvalues 10 and 11 differ by 11%). On ``benchmarks/scale.py``'s stream (``--only accuracy``, N = 20,000):
256: 1.95 deg / 0.99988, too close to the 2 deg target; 384: 0.72 deg / 0.99997; 512: 0.36 deg / 0.99999;
256 with ``passes=2``: 0.005 deg / 1.0000 (but every sample generated twice). The sketch's product per
1,000 samples (2,048-row batches, 2 threads): 0.25 s at 256, 0.36 s at 384, 0.46 s at 512, beside
0.9-1.2 s to generate them: 384 costs about 8% more time than 256 for a clear margin. Hence the
default sketch size ``max(384, 10 k)`` (capped at D) with one pass; pass ``sketch_size=512`` or
``passes=2`` for a tighter subspace. ``benchmarks/scale.py`` keeps these figures current. Frequent Directions needs an
SVD per batch (IncrementalPCA's cost again).

Nothing silent: ``n_components`` above the dimension analysed is refused (there are no more components),
and a w or z PCA whose spectrum is flat (an isotropic Gaussian z: the largest variance within 25% of what
isotropic noise shows, the Marchenko-Pastur edge ``mean x (1 + sqrt(D / n))^2``) warns that its directions
are arbitrary and points to activation PCA; ``info["flat_spectrum"]`` records it.

Scale-out: under ``torchrun`` (``torch.distributed`` initialised, gloo on CPU or NCCL on GPU) each
rank draws its own chunks of the seeded samples (``sampling.latent_batches(shard=...)``), the sums
are all-reduced, and every rank returns the same record; ``python -m latentwidgets.directions.run``
writes it from rank 0 only. Everything (sums, test matrix, regression) lives on the model's device.
Before sampling, the run's memory is estimated and a run that would not fit stops with the estimate
and the setting that fits (``MemoryError``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch

from .record import Directions
from .sampling import CHUNK, check_classes, check_count, class_provenance, latent_batches
from .streaming import CovarianceSketch, CovarianceSums, CrossSums, check_memory, random_basis, rank_and_world

#: widest activation the exact covariance estimator handles by default (a D x D float64 matrix)
MAX_COV_DIM = 4096
#: the sketch's default size: max(MIN_SKETCH, SKETCH_PER_COMPONENT x n_components), capped at D
MIN_SKETCH = 384
SKETCH_PER_COMPONENT = 10
#: a spectrum is flat when its largest variance is at most this factor times isotropic noise's largest
FLAT_MARGIN = 1.25
#: activation batches are sized to about this many bytes when ``batch_size`` is not given
ACT_BATCH_BYTES = 128 * 2**20
#: bytes a batch costs per value of the sample (sample, shifted copy, forward intermediates)
BATCH_BYTES_PER_VALUE = 4 * 4

Batches = Iterable[torch.Tensor] | Callable[[], Iterable[torch.Tensor]]


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its entry of largest magnitude is positive (deterministic signs)."""
    idx = vectors.abs().argmax(dim=1)
    s = torch.sign(vectors.gather(1, idx[:, None]))
    s[s == 0] = 1
    return vectors * s


def pca_from_covariance(cov: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Top-``k`` eigenpairs of a covariance matrix: ``(components [k, D], variances [k], total variance)``."""
    evals, evecs = torch.linalg.eigh(cov.double())
    order = torch.argsort(evals, descending=True)[:k]
    comps = fix_signs(evecs[:, order].t().contiguous())
    return comps, evals[order].clamp(min=0), float(torch.diagonal(cov).sum())


def spectrum_is_flat(variance: torch.Tensor, total_variance: float, dim: int, n: int) -> bool:
    """True when the largest of ``variance`` is within :data:`FLAT_MARGIN` of the largest sample variance of
    isotropic noise with the same total (``mean x (1 + sqrt(dim / n))^2``): the components are then arbitrary.

    >>> spectrum_is_flat(torch.tensor([1.02, 1.0]), 16.0, 16, 100_000)
    True
    """
    edge = total_variance / dim * (1 + (dim / max(n, 1)) ** 0.5) ** 2
    return bool(float(variance[0]) <= FLAT_MARGIN * edge)


def default_sketch_size(k: int, dim: int) -> int:
    """``min(dim, max(MIN_SKETCH, SKETCH_PER_COMPONENT * k))`` (see the module docstring for why)."""
    return min(dim, max(MIN_SKETCH, SKETCH_PER_COMPONENT * k))


def _consume(batches: Iterable[torch.Tensor], update: Callable[[torch.Tensor], None], count: Callable[[], int]) -> bool:
    """Feed every batch to ``update``; on Ctrl-C keep what was accumulated (GANSpace's behaviour).
    Returns True when interrupted."""
    try:
        for x in batches:
            update(x.reshape(x.shape[0], -1))
    except KeyboardInterrupt:
        if count() < 2:
            raise
        return True
    return False


def _peek(batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor | None, Iterable[torch.Tensor]]:
    it = iter(batches)
    first = next(it, None)
    if first is None:
        return None, it

    def chained():
        yield first
        yield from it
    return first.reshape(first.shape[0], -1), chained()


def streaming_pca(batches: Batches, k: int, estimator: str = "covariance", niter: int = 6,
                  sketch_size: int | None = None, passes: int = 1, seed: int = 0,
                  shift: torch.Tensor | None = None) -> dict[str, Any]:
    """PCA of samples arriving in batches ``[B, D]``.

    ``estimator``: ``"covariance"`` (streamed float64 covariance + ``eigh``), ``"sketch"`` (Nystrom
    sketch of size ``sketch_size``, see the module docstring; ``passes`` > 1 needs ``batches`` to be a
    callable returning a fresh iterable each time) or ``"lowrank"`` (collects the samples;
    ``torch.pca_lowrank`` with ``niter`` power iterations). ``shift`` (default: the first batch's
    mean) is subtracted before the products; ranks of a distributed run must pass the same one, and
    their sums are all-reduced after each pass. Returns a dict with ``mean [D]``, ``components [k, D]``
    (orthonormal rows, float64), ``variance [k]``, ``total_variance``, ``n``, ``interrupted``.

        out = streaming_pca((torch.randn(1000, 8) for _ in range(10)), k=3)
        out = streaming_pca(lambda: (x[i:i + 500] for i in range(0, len(x), 500)), k=3, estimator="sketch", passes=2)
    """
    replay = batches if callable(batches) else None
    if passes < 1 or (passes > 1 and (estimator != "sketch" or replay is None)):
        raise ValueError("passes > 1 needs estimator='sketch' and batches given as a callable that replays them")
    first, stream = _peek(replay() if replay is not None else batches)
    if first is None:
        raise ValueError("no samples were given to the PCA")
    if estimator == "covariance":
        acc = CovarianceSums(first.shape[1], device=first.device, shift=shift)
        interrupted = _consume(stream, acc.update, lambda: acc.n)
        acc.reduce_across_ranks()
        mean, cov = acc.finalize()
        comps, var, total = pca_from_covariance(cov, min(k, acc.dim))
        return {"mean": mean, "components": comps, "variance": var, "total_variance": total, "n": acc.n,
                "interrupted": interrupted}
    if estimator == "sketch":
        dim = first.shape[1]
        size = min(dim, sketch_size or default_sketch_size(k, dim))
        omega = random_basis(dim, size, seed, device=first.device)
        shift = first.float().mean(0) if shift is None else shift
        interrupted = False
        for p in range(passes):
            sk = CovarianceSketch(omega, shift)
            interrupted = _consume(stream, sk.update, lambda sk=sk: sk.n)
            sk.reduce_across_ranks()
            if interrupted or p == passes - 1:
                break
            omega = torch.linalg.qr(sk.product())[0].float()
            stream = replay()
        comps, var = sk.eigenpairs(min(k, size))
        return {"mean": sk.mean(), "components": fix_signs(comps), "variance": var,
                "total_variance": sk.total_variance(), "n": sk.n, "interrupted": interrupted,
                "sketch_size": size, "passes": p + 1}
    if estimator == "lowrank":
        xs = [x.reshape(x.shape[0], -1).float() for x in stream]
        x = torch.cat(xs)
        if not torch.isfinite(x).all():
            raise ValueError("samples contain NaN or inf (does the model produce finite outputs?)")
        n, d = x.shape
        if n < 2:
            raise ValueError(f"need at least 2 samples for PCA; got {n}")
        k = min(k, d, n)
        mean = x.mean(0)
        xc = x - mean
        q = min(k + 10, d, n)
        torch.manual_seed(0)  # pca_lowrank draws a random start: keep it reproducible
        _, s, v = torch.pca_lowrank(xc, q=q, center=False, niter=niter)
        comps = fix_signs(v[:, :k].t().double().contiguous())
        var = (s[:k].double() ** 2) / (n - 1)
        total = float(xc.double().pow(2).sum() / (n - 1))
        return {"mean": mean.double(), "components": comps, "variance": var, "total_variance": total, "n": n}
    raise ValueError(f"unknown estimator {estimator!r}; choose 'auto', 'covariance', 'sketch' or 'lowrank'")


def _resolve_space(model: Any, space: str | None, layer: str | None) -> str:
    if space is None:
        space = "act" if layer is not None or not model.has_mapping else "w"
    if space.startswith("act:"):
        space = "act"
    if space not in ("w", "z", "act"):
        raise ValueError(f"space must be 'w', 'z' or 'act' (activation PCA + regression); got {space!r}")
    if space == "w" and not model.has_mapping:
        raise ValueError(f"{model.name} has no mapping network, so there is no w: use space='z' "
                         "(PCA of z) or space='act' with layer=... (GANSpace's activation PCA)")
    return space


def _memory_plan(estimator: str, dim: int, n: int, k: int, batch: int, sketch_size: int) -> tuple[dict[str, int], str]:
    """Estimated bytes of a run's parts and the setting that would fit, for :func:`check_memory`."""
    batch_bytes = batch * dim * BATCH_BYTES_PER_VALUE
    fit_batch = f"pass batch_size={max(1, batch // 4)} (or smaller)"
    sketch_mb = CovarianceSketch.bytes_needed(dim, default_sketch_size(k, dim)) / 2**20
    if estimator == "covariance":
        return ({"covariance sums": CovarianceSums.bytes_needed(dim), "batch": batch_bytes},
                f"use estimator='sketch' (memory {sketch_mb:,.0f} MB for the sketch) or {fit_batch}")
    if estimator == "sketch":
        return ({"sketch": CovarianceSketch.bytes_needed(dim, sketch_size), "batch": batch_bytes},
                f"pass sketch_size={max(k + 10, sketch_size // 4)} or {fit_batch}")
    return ({"all samples": 3 * n * dim * 4, "batch": batch_bytes},
            "use estimator='sketch' (memory independent of n_samples) or fewer n_samples")


def _first_batch_mean(model: Any, n: int, seed: int, batch: int, classes: str | None,
                     take: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean of ``take(z, lat)`` over the stream's first batch: the shift every rank subtracts."""
    stream = latent_batches(model, min(n, batch, CHUNK), seed, batch, classes=classes)
    try:
        z, lat = next(stream)
        return take(z, lat).reshape(z.shape[0], -1).double().mean(0)
    finally:
        stream.close()


def pca_directions(model: Any, n_components: int = 10, space: str | None = None, n_samples: int = 100_000,
                   batch_size: int | None = None, seed: int = 0, layer: str | None = None,
                   regression_samples: int = 10_000, estimator: str = "auto", niter: int = 6,
                   sketch_size: int | None = None, passes: int = 1, classes: str | None = None,
                   progress: bool = True) -> Directions:
    """GANSpace directions of ``model``.

    Returns unit directions named ``"pca 0"``, ... with sigma = std of the projections; ``info`` holds
    the explained variance ratios (and ``info["classes"]`` which classes a conditional model used).

        d = pca_directions(latentwidgets.load("sprites-style"), n_components=10, n_samples=100_000)

    Args:
        n_components: how many principal components to keep (at most the dimension analysed).
        space: ``"w"`` (default with a mapping network), ``"z"``, or ``"act"`` (default without one): PCA of
            ``layer``'s activations, then least-squares regression back to the synthesis latent.
        n_samples: how many seeded samples the PCA sees.
        batch_size: samples per batch; None sizes batches to about 128 MB (at most 8192 rows).
        seed: seed of the first sample (the same seed gives the same record).
        layer: the activation layer of ``space="act"`` (default: the model's first hookable layer).
        regression_samples: fresh samples for the regression back to the latent (``space="act"``).
        estimator: ``"auto"`` (by width), ``"covariance"``, ``"sketch"`` or ``"lowrank"``, compared in
            ``help(latentwidgets.directions.pca)``.
        niter: power iterations of the ``"lowrank"`` estimator.
        sketch_size: columns of the ``"sketch"`` estimator (None: ``max(384, 10 * n_components)``).
        passes: passes of the ``"sketch"`` estimator (> 1: subspace iteration over regenerated samples).
        classes: conditional models: None fits the current class, ``"all"`` draws each sample's class
            from its seed.
        progress: show a progress bar.
    """
    if not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive int; got {n_components!r}")
    check_count(n_samples, "n_samples")
    if estimator not in ("auto", "covariance", "sketch", "lowrank"):
        raise ValueError(f"unknown estimator {estimator!r}; choose 'auto', 'covariance', 'sketch' or 'lowrank'")
    space = _resolve_space(model, space, layer)
    check_classes(model, classes)
    rank, world = rank_and_world()
    if world > 1 and estimator == "lowrank":
        raise ValueError("estimator='lowrank' collects each process's samples and cannot merge them across "
                         "processes: use estimator='auto' (covariance or sketch, both reduced across ranks)")
    shard = (rank, world)
    show = progress and rank == 0
    opts = {"n_components": n_components, "space": space, "n_samples": n_samples, "seed": seed,
            "layer": layer, "estimator": estimator, "niter": niter}
    extra: dict[str, Any] = {}
    if getattr(model, "num_classes", 0) > 0:
        opts["classes"] = classes
        extra["classes"] = class_provenance(model, classes)
    if world > 1:
        extra["world_size"] = world

    if space in ("w", "z"):
        bs = batch_size or CHUNK
        dim = model.w_dim if space == "w" else model.z_dim
        if n_components > dim:
            raise ValueError(f"n_components={n_components} exceeds the dimension of {space} ({dim}): {model.name} has "
                             f"at most {dim} principal components there; pass n_components<={dim}")
        est = "covariance" if estimator == "auto" else estimator
        size = default_sketch_size(n_components, dim) if sketch_size is None else sketch_size
        need, fix = _memory_plan(est, dim, n_samples, n_components, bs, size)
        check_memory(need, model.device, fix)
        # the shift every rank subtracts: the mean of the stream's first batch (as a single process would take)
        shift = _first_batch_mean(model, n_samples, seed, bs, classes, lambda z, lat: lat if space == "w" else z)

        def batches():
            for z, lat in latent_batches(model, n_samples, seed, bs, show, desc=f"PCA on {space}", shard=shard,
                                         classes=classes):
                yield lat if space == "w" else z
        out = streaming_pca(batches if est == "sketch" else batches(), n_components, est, niter, sketch_size,
                            passes, seed, shift if est != "lowrank" else None)
        comps = out["components"]
        sigma = out["variance"].sqrt()
        ratio = out["variance"] / out["total_variance"]
        k = comps.shape[0]
        info = {"explained_variance_ratio": ratio.tolist(), "explained_variance": out["variance"].tolist(),
                "total_variance": out["total_variance"], "estimator": est}
        if est == "sketch":
            info.update(sketch_size=out["sketch_size"], passes=out["passes"])
        info["flat_spectrum"] = spectrum_is_flat(out["variance"], out["total_variance"], dim, out["n"])
        if info["flat_spectrum"]:
            instead = ("PCA on w, space='w' (the default for models with a mapping network), or activation PCA"
                       if model.has_mapping and space == "z" else "activation PCA")
            warnings.warn(f"PCA on {space} of {model.name}: the spectrum is flat (largest variance "
                          f"{float(out['variance'][0]):.3g}, average over its {dim} directions "
                          f"{out['total_variance'] / dim:.3g}), so these directions are arbitrary, as for an "
                          f"isotropic Gaussian z. Use {instead}: pca_directions(model, space='act', layer=...), "
                          "GANSpace's recipe for models without a mapping network", stacklevel=2)
        info.update(extra)
        return Directions(
            vectors=comps.float(), space=space, sigma=sigma.float(), names=[f"pca {i}" for i in range(k)],
            layers=None, method="pca", options=opts, samples=out["n"], seed=seed, model_id=model.name,
            state={"mean": out["mean"].float()}, info=info,
        )

    # ---- activation PCA + regression back to the latent (GANSpace's recipe for BigGAN)
    if layer is None:
        names = model.layers()
        if not names:
            raise ValueError(f"{model.name} names no hookable layers; pass layer=... or use space='z'")
        layer = names[0]
        opts["layer"] = layer
    model._module_at(layer)  # unknown layer -> KeyError listing the layers
    check_count(regression_samples, "regression_samples", minimum=n_components + 1)
    probe = model.activations(model.to_synthesis(model.sample_z(1, seed)), layer)
    act_shape = list(probe.shape[1:])
    dim = probe[0].numel()
    if n_components > dim:
        raise ValueError(f"n_components={n_components} exceeds the size of layer {layer!r} ({dim} values): there are "
                         f"at most {dim} principal components; pass n_components<={dim}")
    est = estimator if estimator != "auto" else ("covariance" if dim <= MAX_COV_DIM else "sketch")
    bs = batch_size or max(16, min(CHUNK, ACT_BATCH_BYTES // (4 * dim)))
    size = default_sketch_size(n_components, dim) if sketch_size is None else min(dim, sketch_size)
    need, fix = _memory_plan(est, dim, n_samples, n_components, bs, size)
    check_memory(need, model.device, fix)

    shift = _first_batch_mean(model, n_samples, seed, bs, classes, lambda z, lat: model.activations(lat, layer))

    def act_batches():
        for _, lat in latent_batches(model, n_samples, seed, bs, show, desc=f"PCA on {layer}", shard=shard,
                                     classes=classes):
            yield model.activations(lat, layer).reshape(lat.shape[0], -1)

    out = streaming_pca(act_batches if est == "sketch" else act_batches(), n_components, est, niter, size,
                        passes, seed, shift if est != "lowrank" else None)
    comps = out["components"].float()  # [K, Dact]
    act_std = out["variance"].sqrt().float().clamp(min=1e-12)
    mean = out["mean"].float()
    k = comps.shape[0]

    # least squares from the standardised PCA coordinates to the latent, from mergeable sums
    cross = CrossSums(k, model.w_dim, device=model.device)
    dev_comps, dev_mean, dev_std = comps.to(model.device), mean.to(model.device), act_std.to(model.device)
    for _, lat in latent_batches(model, regression_samples, seed + 1, bs, show, desc="regression", shard=shard,
                                 classes=classes):
        a = model.activations(lat, layer).reshape(lat.shape[0], -1).float()
        cross.update(((a - dev_mean) @ dev_comps.t()) / dev_std, lat.reshape(lat.shape[0], -1))
    cross.reduce_across_ranks()
    # min_M || A M - (Z - mean) ||: row k of M is the latent move that goes with one std of PC k
    sol, r2 = cross.solve()  # [K, Dlat]
    norms = sol.norm(dim=1, keepdim=True)
    if (norms < 1e-12).any():
        raise ValueError(f"the regression from {layer!r} activations back to the latent found no direction for some "
                         "components (the layer may not depend on the latent): choose another layer")
    vecs = (sol / norms)
    sigma = torch.einsum("kd,de,ke->k", vecs, cross.covariance_b(), vecs).clamp(min=0).sqrt().float().cpu()
    vecs = vecs.float().cpu()
    z_mean = cross.means()[1].cpu()
    lat_space = model.synthesis_space
    ratio = out["variance"] / out["total_variance"]
    opts["regression_samples"] = regression_samples
    info = {"explained_variance_ratio": ratio.tolist(), "explained_variance": out["variance"].tolist(),
            "total_variance": out["total_variance"], "estimator": est, "layer": layer, "act_shape": act_shape,
            "regression_r2": r2}
    if est == "sketch":
        info.update(sketch_size=out["sketch_size"], passes=out["passes"])
    info.update(extra)
    return Directions(
        vectors=vecs, space=lat_space, sigma=sigma, names=[f"pca {i}" for i in range(k)], layers=None,
        method="pca", options=opts, samples=out["n"], seed=seed, model_id=model.name,
        state={"act_components": comps, "act_mean": mean, "act_stdev": act_std, "mean": z_mean.float()},
        info=info,
    )


def activation_directions(d: Directions) -> Directions:
    """The activation-space components kept by an activation PCA (``space="act:<layer>"``), usable
    directly as activation edits (``Edit(act, k, strength)`` adds strength * act_stdev * component)."""
    if "act_components" not in d.state:
        raise ValueError("this record keeps no activation components (it came from a PCA on w or z)")
    layer = d.info["layer"]
    return Directions(
        vectors=d.state["act_components"], space=f"act:{layer}", sigma=d.state["act_stdev"],
        names=[f"pca act {i}" for i in range(d.state["act_components"].shape[0])], method="pca",
        options=dict(d.options), samples=d.samples, seed=d.seed, model_id=d.model_id,
        info={"act_shape": d.info["act_shape"], "layer": layer},
    )
