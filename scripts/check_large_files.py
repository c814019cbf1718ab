"""Refuse files over 1 MB, except shipped weights and training checkpoints (pre-commit hook).

    python scripts/check_large_files.py FILE...       # exit 1 naming each file that is too large

Each binary revision stays in every clone forever; weights belong in latentwidgets/zoo/weights/ or
training/ (safetensors, small), never pickles.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 1 << 20
ALLOWED = ("latentwidgets/zoo/weights/", "training/")


def too_large(paths: list[str]) -> list[str]:
    """The paths over the limit that are not in an allowed folder."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_file() and path.stat().st_size > LIMIT and not p.startswith(ALLOWED):
            out.append(f"{p}: {path.stat().st_size / 2**20:.1f} MB (limit {LIMIT / 2**20:.0f} MB)")
    return out


if __name__ == "__main__":
    bad = too_large(sys.argv[1:])
    for line in bad:
        print(line)
    sys.exit(1 if bad else 0)
