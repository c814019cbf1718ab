"""Command line of the zoo: ``python -m latentwidgets.zoo list``.

    python -m latentwidgets.zoo list

The quality report measures the zoo from a higher layer: ``python -m latentwidgets.evaluate.zoo_report``.
"""

from __future__ import annotations

import argparse
import sys

REPORT_COMMAND = "python -m latentwidgets.evaluate.zoo_report"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        print(f"the zoo report moved: run {REPORT_COMMAND} (same options)", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="python -m latentwidgets.zoo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the embedded models shipped with this install")
    ap.parse_args(argv)
    from . import available
    for name, desc in available().items():
        print(f"{name:<18}{desc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
