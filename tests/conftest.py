"""Suite-wide pytest settings: CPU threads, and the rules that keep the one test command honest.

- Tests run on CPU with one torch thread: the browser tests run a kernel, JupyterLab and Chromium
  beside pytest on 2 cores, and oversubscribed torch threads slow everything tenfold (measured).
- Under ``CI`` a skipped test marked ``browser`` or ``js`` is reported as a failure: those suites are
  part of the test command, not optional extras (a missing Chromium or Node must break the build).
- A run in which no test passed (all skipped or deselected) exits with status 5, like an empty one.
"""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)

_REQUIRED_IN_CI = ("browser", "js")


@pytest.fixture(scope="session")
def untrained_style_model():
    """sprites-style's architecture at a seeded random init: widget tests that must not depend on how
    far the shipped weights have trained."""
    from latentwidgets import zoo
    from latentwidgets.models.zoo_style import ZooStyleModel

    torch.manual_seed(0)
    return ZooStyleModel(zoo.build("sprites-style", untrained=True), name="sprites-style")
_passed = 0


def _ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _ci() and any(item.get_closest_marker(m) for m in _REQUIRED_IN_CI):
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            report.longrepr = f"required under CI but skipped: {reason}"


def pytest_runtest_logreport(report):
    global _passed
    if report.when == "call" and report.passed:
        _passed += 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _passed == 0 and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _passed == 0 and not config.option.collectonly:
        terminalreporter.write_line("no test passed: the run fails (exit status 5), as when none is collected",
                                    red=True)
