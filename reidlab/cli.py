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
    "reidlab.engine.runs_cli",  # reidlab runs ls
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reidlab", description=__doc__)
    parser.add_argument("--debug", action="store_true",
                        help="show the full Python traceback of an error (may also follow the sub-command)")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in _AREAS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from reidlab.cli_errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere: `reidlab train --debug ...` as well
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(lambda: args.func(args), _command_name(args), debug=debug)


def _command_name(args: argparse.Namespace) -> str:
    """``train``, ``data check``, ``notebooks run``... from the parsed sub-commands."""
    parts = [args.command]
    for k, v in vars(args).items():
        if k.endswith("_command") and isinstance(v, str) and k != "command":
            parts.append(v)
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
