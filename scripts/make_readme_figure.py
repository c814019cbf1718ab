"""Make the README's picture, docs/samples.png: real sprites scenes above samples of every embedded
generator (seeded, so the figure changes only when the shipped weights do).

    .venv/bin/python scripts/make_readme_figure.py            # writes docs/samples.png
    .venv/bin/python scripts/make_readme_figure.py --n 12 --seed 3 --out /tmp/fig.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import latentwidgets as lw  # noqa: E402
from latentwidgets import zoo  # noqa: E402
from latentwidgets.zoo import sprites  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rows(n: int, seed: int) -> list[tuple[str, torch.Tensor]]:
    """(label, images [n, 3, H, W]) for the real world and each shipped generator."""
    out = [("real scenes", sprites.sample(n, seed=seed)[0])]
    for name in zoo.generative():  # not the feature extractor nor the latent regressor
        model = lw.load(name)
        images = model.generate(model.sample_z(n, seed=seed))
        clean = float(sprites.measure(images)["clean"].mean())
        out.append((f"{name}\n(clean {clean:.0%})", images))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="images per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "samples.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = rows(args.n, args.seed)
    fig, axes = plt.subplots(len(data), args.n, figsize=(args.n * 0.9 + 1.3, len(data) * 0.95), squeeze=False)
    for r, (label, images) in enumerate(data):
        for c in range(args.n):
            ax = axes[r, c]
            ax.imshow(images[c].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    plt.subplots_adjust(left=0.14, right=0.995, top=0.99, bottom=0.01, wspace=0.05, hspace=0.08)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({', '.join(label.split(chr(10))[0] for label, _ in data)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
