"""GANSpace PCA and SeFa closed-form directions: planted structure is recovered, records are sound."""

from __future__ import annotations

import math

import pytest
import torch

from latentwidgets.directions import Directions, find_directions
from latentwidgets.directions.closed_form import closed_form_directions
from latentwidgets.directions.layers import layer_groups, resolve_layers
from latentwidgets.directions.pca import activation_directions, pca_directions, streaming_pca
from latentwidgets.edit import Edit, render_edits
from latentwidgets.testing.direction_models import PlantedModel, one_thread, planted_decoder, tiny_style

_single_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


# ------------------------------------------------------------------------------------------ PCA
def test_pca_recovers_planted_axis_and_its_sigma():
    model = PlantedModel(scales=(1.0, 1.0, 5.0, 1.0, 2.0, 1.0))
    d = pca_directions(model, n_components=3, n_samples=20_000, progress=False)
    q = model.net.q
    assert d.space == "w" and d.vectors.shape == (3, 6)
    assert abs(float(d.vectors[0] @ q[:, 2])) > 0.999        # dominant axis first
    assert abs(float(d.vectors[1] @ q[:, 4])) > 0.99         # then the std-2 axis
    assert d.sigma[0] == pytest.approx(5.0, rel=0.03)
    ratio = d.info["explained_variance_ratio"]
    assert ratio[0] == pytest.approx(25 / 33, rel=0.03)
    assert ratio == sorted(ratio, reverse=True)
    assert d.names[0] == "pca 0" and d.method == "pca" and d.samples == 20_000


def test_pca_unit_orthonormal_and_seeded():
    model = tiny_style()
    a = find_directions(model, "pca", n_components=4, n_samples=3000, seed=5, progress=False)
    b = find_directions(model, "pca", n_components=4, n_samples=3000, seed=5, batch_size=777, progress=False)
    c = find_directions(model, "pca", n_components=4, n_samples=3000, seed=6, progress=False)
    assert torch.allclose(a.vectors @ a.vectors.t(), torch.eye(4), atol=1e-5)
    assert torch.allclose(a.vectors, b.vectors, atol=1e-5)   # batch size does not change the samples
    assert not torch.allclose(a.vectors, c.vectors, atol=1e-4)
    assert (a.sigma > 0).all()


def test_streaming_covariance_matches_lowrank_and_full_pca():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(5000, 12, generator=g)
    x = noise * torch.linspace(3, 0.2, 12) @ torch.linalg.qr(torch.randn(12, 12, generator=g))[0]
    cov = streaming_pca((x[i:i + 999] for i in range(0, 5000, 999)), k=4)
    low = streaming_pca(iter([x]), k=4, estimator="lowrank", niter=8)
    ref = torch.linalg.eigh(torch.cov(x.t().double()))
    top = ref.eigenvectors[:, -4:].flip(1).t()
    for i in range(4):
        assert abs(float(cov["components"][i] @ top[i])) > 0.9999
        assert abs(float(low["components"][i] @ top[i])) > 0.999
    assert torch.allclose(cov["variance"], ref.eigenvalues.flip(0)[:4], rtol=1e-6)


def test_streaming_covariance_is_accurate_far_from_the_origin():
    """float32 samples with a large common offset (activations often have one): the per-batch
    float32 products run after the shift, so the covariance keeps float64-level accuracy."""
    from latentwidgets.directions.streaming import CovarianceSums as CovarianceAccumulator

    g = torch.Generator().manual_seed(1)
    x = 1000.0 + torch.randn(20_000, 16, generator=g) @ torch.randn(16, 16, generator=g)
    acc = CovarianceAccumulator(16)
    for i in range(0, 20_000, 4096):
        acc.update(x[i:i + 4096])
    mean, cov = acc.finalize()
    ref = torch.cov(x.double().t())
    assert float((cov - ref).abs().max() / ref.abs().max()) < 1e-5
    assert torch.allclose(mean, x.double().mean(0), rtol=1e-9)


def test_activation_pca_regresses_back_to_the_latent():
    model = planted_decoder(z_dim=5, strong_axis=1)
    d = pca_directions(model, n_components=3, n_samples=4000, regression_samples=2000, layer="fc", progress=False)
    assert d.space == "z" and d.vectors.shape == (3, 5)
    assert abs(float(d.vectors[0, 1])) > 0.99                  # PC 0 of 'fc' is driven by z axis 1
    assert d.info["layer"] == "fc" and d.info["act_shape"] == [24]
    assert d.state["act_components"].shape == (3, 24)
    assert torch.allclose(d.vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    act = activation_directions(d)
    assert act.space == "act:fc"
    z = model.sample_z(2, 0)
    _, img = render_edits(model, z, [Edit(act, 0, 2.0)])
    _, img0 = render_edits(model, z, [])
    assert img.shape == (2, 3, 4, 4) and not torch.allclose(img, img0)
    # a slice keeps its own components and shares: d[1:] activation edit 0 is d's activation edit 1
    part = d[1:]
    assert part.info["explained_variance_ratio"] == d.info["explained_variance_ratio"][1:]
    _, whole = render_edits(model, z, [Edit(act, 1, 2.0)])
    _, sliced = render_edits(model, z, [Edit(activation_directions(part), 0, 2.0)])
    assert torch.equal(whole, sliced)


def test_pca_defaults_to_activations_without_mapping():
    model = planted_decoder()
    d = find_directions(model, "pca", n_components=2, n_samples=500, regression_samples=300, progress=False)
    assert d.info["layer"] == model.layers()[0]


def test_pca_bad_input():
    model = tiny_style()
    with pytest.raises(ValueError, match="n_samples"):
        pca_directions(model, n_samples=0, progress=False)
    with pytest.raises(KeyError, match="hookable layers"):
        pca_directions(model, layer="nope", n_samples=100, progress=False)
    with pytest.raises(ValueError, match="no mapping"):
        pca_directions(planted_decoder(), space="w", n_samples=100, progress=False)
    with pytest.raises(ValueError, match="n_components"):
        pca_directions(model, n_components=0, n_samples=100, progress=False)


def test_pca_record_round_trip_and_dim_check(tmp_path):
    model = tiny_style()
    d = pca_directions(model, n_components=3, n_samples=500, progress=False)
    d.save(tmp_path / "pca")
    e = Directions.load(tmp_path / "pca", model)
    assert torch.equal(d.vectors, e.vectors) and torch.equal(d.sigma, e.sigma)
    assert e.info["explained_variance_ratio"] == d.info["explained_variance_ratio"]
    assert torch.equal(e.state["mean"], d.state["mean"])
    with pytest.raises(ValueError, match="dimension"):
        Directions.load(tmp_path / "pca", PlantedModel())      # w_dim 6 != 8
    with pytest.raises(ValueError, match="finite"):
        Edit(d, 0, float("nan"))


# ------------------------------------------------------------------------------------ closed form
def _reference_sefa(model, start, end):
    rows = [lin.weight.detach().double() for i in range(start, end) for lin in model.style_affines()[i]]
    a = torch.cat(rows)
    a = a / a.norm(dim=1, keepdim=True)
    ev, vec = torch.linalg.eigh(a.t() @ a)
    return ev.flip(0), vec.flip(1).t()


@pytest.mark.parametrize("layers,rng", [(None, (0, 6)), ((1, 4), (1, 4)), ("fine", None)])
def test_closed_form_equals_eigenvectors_of_stacked_weights(layers, rng):
    model = tiny_style()
    rng = rng or layer_groups(model.num_layers)["fine"]
    d = closed_form_directions(model, n_components=4, layers=layers, sigma_samples=500)
    ev, vec = _reference_sefa(model, *rng)
    for i in range(4):
        assert abs(float(d.vectors[i].double() @ vec[i])) > 0.9999
    assert d.info["eigenvalues"] == pytest.approx(ev[:4].tolist(), rel=1e-6)
    assert d.layers == [None] * 4 if layers is None else d.layers == [rng] * 4
    assert (d.sigma > 0).all() and d.space == "w"


def test_closed_form_bad_input():
    model = tiny_style()
    with pytest.raises(ValueError, match="does not fit"):
        closed_form_directions(model, layers=(3, 99))
    with pytest.raises(ValueError, match="unknown layer group"):
        closed_form_directions(model, layers="coarsest")
    with pytest.raises(ValueError, match="style-based"):
        closed_form_directions(planted_decoder())


def test_layer_groups_cover_all_layers_in_order():
    assert layer_groups(10) == {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 10)}
    assert layer_groups(18)["fine"] == (8, 18)
    for n in (3, 6, 9):
        g = layer_groups(n)
        assert g["coarse"][0] == 0 and g["coarse"][1] == g["middle"][0] and g["middle"][1] == g["fine"][0]
        assert g["fine"][1] == n and all(b > a for a, b in g.values())
    assert layer_groups(1)["fine"] == (0, 1)
    assert resolve_layers("all", 10) is None and resolve_layers((2, 5), 10) == (2, 5)


def test_interrupted_pca_keeps_what_was_accumulated():
    g = torch.Generator().manual_seed(1)

    def batches():
        for i in range(10):
            if i == 3:
                raise KeyboardInterrupt
            yield torch.randn(100, 6, generator=g)

    out = streaming_pca(batches(), k=2)
    assert out["interrupted"] and out["n"] == 300 and out["components"].shape == (2, 6)


# ------------------------------------------------------------------- streaming, sketch, memory check
def _decaying(n=4000, d=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0].float()
    scales = 1.0 / torch.arange(1, d + 1).float() ** 0.8
    return 3.0 + (torch.randn(n, d, generator=g) * scales) @ basis.t()


def _largest_angle(a, b):
    s = torch.linalg.svdvals(a.double() @ b.double().t()).clamp(max=1.0)
    return math.degrees(math.acos(float(s.min())))


def test_sketch_pca_matches_exact_top_components_and_more_passes_help():
    x = _decaying()
    exact = streaming_pca(iter([x]), k=10)

    def replay():
        return (x[i:i + 512] for i in range(0, len(x), 512))
    one = streaming_pca(replay, k=10, estimator="sketch", sketch_size=60)
    two = streaming_pca(replay, k=10, estimator="sketch", sketch_size=60, passes=2)
    assert one["n"] == two["n"] == 4000 and two["passes"] == 2
    assert _largest_angle(exact["components"][:3], one["components"][:3]) < 5
    assert _largest_angle(exact["components"][:5], two["components"][:5]) < 1
    assert _largest_angle(exact["components"][:5], two["components"][:5]) < _largest_angle(
        exact["components"][:5], one["components"][:5])
    assert one["total_variance"] == pytest.approx(exact["total_variance"], rel=1e-6)
    assert torch.allclose(one["mean"], exact["mean"], atol=1e-9)
    assert torch.allclose(two["variance"][:5], exact["variance"][:5], rtol=1e-3)
    with pytest.raises(ValueError, match="callable"):
        streaming_pca(replay(), k=3, estimator="sketch", passes=2)


def test_sketch_of_full_size_is_the_exact_covariance_and_sums_merge():
    from latentwidgets.directions.streaming import CovarianceSketch, random_basis

    x = _decaying(n=3000, d=40, seed=2)
    omega, shift = random_basis(40, 40, seed=1), x[:100].mean(0)
    whole, left, right = CovarianceSketch(omega, shift), CovarianceSketch(omega, shift), CovarianceSketch(omega, shift)
    whole.update(x)
    left.update(x[:1234])
    right.update(x[1234:])
    left.merge(right)
    assert left.n == 3000
    for name in whole.sums:
        assert torch.allclose(left.sums[name], whole.sums[name], rtol=1e-5, atol=1e-5)   # float32 products
    vecs, vals = left.eigenpairs(6)
    ref = torch.linalg.eigh(torch.cov(x.double().t()))
    top = ref.eigenvectors[:, -6:].flip(1).t()
    assert _largest_angle(top, vecs) < 0.01
    assert torch.allclose(vals, ref.eigenvalues.flip(0)[:6], rtol=1e-5)


def test_cross_sums_solve_least_squares_like_lstsq():
    from latentwidgets.directions.streaming import CrossSums

    g = torch.Generator().manual_seed(3)
    a = torch.randn(2000, 4, generator=g) + 2
    b = a @ torch.randn(4, 7, generator=g) + 0.3 * torch.randn(2000, 7, generator=g) - 1
    cs = CrossSums(4, 7)
    for i in range(0, 2000, 300):
        cs.update(a[i:i + 300], b[i:i + 300])
    sol, r2 = cs.solve()
    ac, bc = (a - a.mean(0)).double(), (b - b.mean(0)).double()
    ref = torch.linalg.lstsq(ac, bc).solution
    assert torch.allclose(sol, ref, atol=1e-9)
    assert r2 == pytest.approx(1 - float((ac @ ref - bc).pow(2).sum() / bc.pow(2).sum()), rel=1e-9)
    assert torch.allclose(cs.covariance_b(), torch.cov(b.double().t()), atol=1e-9)


def test_activation_pca_by_sketch_equals_the_covariance_estimator_on_a_narrow_layer():
    model = planted_decoder(z_dim=5, strong_axis=1)
    kw = dict(n_components=3, n_samples=3000, regression_samples=1500, layer="fc", progress=False)
    cov = pca_directions(model, estimator="covariance", **kw)
    sk = pca_directions(model, estimator="sketch", batch_size=333, **kw)   # sketch size = D = 24: exact
    assert sk.info["estimator"] == "sketch" and sk.info["sketch_size"] == 24
    assert torch.allclose(cov.state["act_components"], sk.state["act_components"], atol=1e-4)
    assert torch.allclose(cov.vectors, sk.vectors, atol=1e-4)
    assert torch.allclose(cov.sigma, sk.sigma, rtol=1e-4)
    assert sk.info["regression_r2"] == pytest.approx(cov.info["regression_r2"], rel=1e-6)


def test_a_run_that_does_not_fit_stops_before_sampling(monkeypatch):
    import latentwidgets.directions.pca as pca_mod
    import latentwidgets.directions.streaming as streaming

    def no_sampling(*a, **k):
        raise AssertionError("sampling started")
    monkeypatch.setattr(pca_mod, "latent_batches", no_sampling)
    monkeypatch.setattr(streaming, "available_bytes", lambda device: 1 << 20)   # 1 MB free
    model = planted_decoder()
    with pytest.raises(MemoryError, match=r"would need about .* MB .* available; .*batch_size="):
        pca_directions(model, n_components=2, n_samples=1000, progress=False)
    with pytest.raises(MemoryError, match="estimator='sketch'"):
        pca_directions(model, n_components=2, n_samples=100_000, estimator="lowrank", progress=False)
    # enough memory for the sketch, not for a 20,000-wide covariance: the message names the sketch
    monkeypatch.setattr(streaming, "available_bytes", lambda device: 3 << 30)
    need, fix = pca_mod._memory_plan("covariance", 20_000, 10**6, 10, 64, 256)
    with pytest.raises(MemoryError, match="estimator='sketch'"):
        streaming.check_memory(need, "cpu", fix)
    need, fix = pca_mod._memory_plan("sketch", 20_000, 10**6, 10, 64, 256)
    streaming.check_memory(need, "cpu", fix)


def test_shards_partition_the_seeded_stream():
    from latentwidgets.directions.sampling import CHUNK, latent_batches, shard_size

    model = tiny_style()
    n = 2 * CHUNK + 100
    full = torch.cat([z for z, _ in latent_batches(model, n, seed=3, batch_size=5000)])
    parts = [torch.cat([z for z, _ in latent_batches(model, n, seed=3, batch_size=3000, shard=(r, 2))])
             for r in range(2)]
    assert [p.shape[0] for p in parts] == [shard_size(n, (r, 2)) for r in range(2)] == [CHUNK + 100, CHUNK]
    assert torch.equal(torch.cat([parts[0][:CHUNK], parts[1], parts[0][CHUNK:]]), full)
    with pytest.raises(ValueError, match="shard"):
        next(latent_batches(model, 10, shard=(2, 2)))


def test_closed_form_sigma_is_the_std_of_the_projections():
    from latentwidgets.directions.sampling import sample_latents

    model = tiny_style()
    d = closed_form_directions(model, n_components=3, sigma_samples=3000, seed=2)
    _, w = sample_latents(model, 3000, seed=2)
    assert torch.allclose(d.sigma, (w @ d.vectors.t()).std(0), rtol=1e-4)


# ------------------------------------------------------------------------------ conditional models
class _ClassShifted(torch.nn.Module):
    """forward(z [B, 6], labels [B]): layer 'mixed' = linear in z plus a large per-class offset."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(4, 24)
        with torch.no_grad():
            self.embed.weight.mul_(20.0)
        self.fc = torch.nn.Linear(6, 24)
        self.mixed = torch.nn.Identity()
        self.out = torch.nn.Linear(24, 3 * 4 * 4)

    def forward(self, z, labels):
        return torch.sigmoid(self.out(self.mixed(self.fc(z) + self.embed(labels)))).view(-1, 3, 4, 4)


def test_pca_fits_one_class_or_across_classes_and_records_which():
    from latentwidgets.models import load

    model = load(_ClassShifted())
    assert model.num_classes == 4
    kw = dict(n_components=3, n_samples=3000, regression_samples=1000, layer="mixed", progress=False)
    model.set_class(2)
    one = pca_directions(model, **kw)
    across = pca_directions(model, classes="all", **kw)
    again = pca_directions(model, classes="all", batch_size=250, **kw)
    assert one.info["classes"] == 2 and across.info["classes"] == "all" and across.options["classes"] == "all"
    # the class offsets add variance only when classes vary across samples
    assert across.info["total_variance"] > 5 * one.info["total_variance"]
    assert torch.allclose(across.state["act_components"], again.state["act_components"], atol=1e-4)
    assert model.class_index == 2                       # fitting across classes leaves the current class
    one_z = pca_directions(model, space="z", n_components=2, n_samples=500, progress=False)
    assert one_z.info["classes"] == 2
    with pytest.raises(ValueError, match="class-conditional"):
        pca_directions(planted_decoder(), classes="all", n_samples=100, progress=False)
    with pytest.raises(ValueError, match="classes must be"):
        pca_directions(model, classes="some", n_samples=100, progress=False)


def test_collecting_estimator_refuses_several_processes(monkeypatch):
    import latentwidgets.directions.pca as pca_mod

    monkeypatch.setattr(pca_mod, "rank_and_world", lambda: (0, 2))
    with pytest.raises(ValueError, match="cannot merge"):
        pca_directions(planted_decoder(), estimator="lowrank", n_samples=100, progress=False)
