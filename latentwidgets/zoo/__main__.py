"""Command line of the zoo: ``python -m latentwidgets.zoo {list,report}``.

    python -m latentwidgets.zoo list
    python -m latentwidgets.zoo report --json report.json [--n 1000] [--models sprites-style]
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m latentwidgets.zoo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the embedded models shipped with this install")
    rep = sub.add_parser("report", help="size, speed and realism of each generative zoo model")
    rep.add_argument("--json", default=None, help="also write the figures to this JSON file")
    rep.add_argument("--n", type=int, default=1000, help="samples and real scenes per figure (default 1000)")
    rep.add_argument("--timing-repeats", type=int, default=7, help="repeats of each speed measurement (median)")
    rep.add_argument("--models", nargs="*", default=None, help="only these models (default: all generative ones)")
    args = ap.parse_args(argv)
    if args.command == "list":
        from . import available
        for name, desc in available().items():
            print(f"{name:<18}{desc}")
        return 0
    from .report import main as report_main
    report_main(args.json, n=args.n, models=args.models, timing_repeats=args.timing_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
