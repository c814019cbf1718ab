"""The js/ unit and browser-mode tests (``npm test`` in js/, vitest), run as part of pytest.

They run here rather than as a separate step so that the one test command (scripts/test, .ci/run)
covers them and pytest's summary counts them. The test exists whenever js/package.json defines a
``test`` script; Node and js/node_modules come from ``scripts/setup --test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"


def _has_test_script() -> bool:
    try:
        return "test" in json.loads((JS / "package.json").read_text()).get("scripts", {})
    except (OSError, ValueError):
        return False


@pytest.mark.js
@pytest.mark.slow
@pytest.mark.skipif(not _has_test_script(), reason="js/package.json has no test script")
def test_npm_test():
    npm = shutil.which("npm")
    assert npm, "Node.js/npm not found: install Node >= 20 (scripts/setup --test needs it too)"
    assert (JS / "node_modules").is_dir(), "js/node_modules is missing: run scripts/setup --test"
    env = dict(os.environ, CI="true", FORCE_COLOR="0", NO_COLOR="1")
    proc = subprocess.run([npm, "test"], cwd=JS, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    print(proc.stdout[-4000:])
    assert proc.returncode == 0, f"npm test failed in js/:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
