"""The ``reidlab`` command. Each area registers its own sub-commands in its ``cli`` module."""
from __future__ import annotations

import argparse
import importlib
import sys

# (module, what it adds). Each module has ``register(subparsers)`` setting ``func`` on its parsers.
_AREAS = (
    "reidlab.data.cli",       # reidlab data check / data synth / data stats
    "reidlab.eval.cli",       # reidlab eval FEATURES.npz --protocol NAME; reidlab protocols
    "reidlab.engine.cli",     # reidlab train / reidlab extract
    "reidlab.engine.weights_cli",  # reidlab pretrain-pairs / reidlab import-weights
    "reidlab.notebooks.cli",  # reidlab notebooks run
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reidlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in _AREAS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
