"""How the ``reidlab`` command reports a failure.

A *user error* — a missing or unreadable file, a file of another kind, a bad config value,
an unknown name — is printed as one line, ``reidlab <command>: error: <message>``, and the
command exits with status 2. The messages raised inside reidlab name the input and the fix;
the traceback would only hide them, so it is shown with ``--debug`` only. Anything else
(a bug) keeps its full traceback.
"""
from __future__ import annotations

import sys
import traceback
import zipfile
from typing import Callable

USER_ERROR_EXIT = 2

#: Exception types that mean "the input is wrong", not "reidlab is wrong".
USER_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
    ValueError,            # bad values, unknown names, foreign files (reidlab's DataError included)
    KeyError, LookupError,  # unknown dataset / protocol / method names
    NotImplementedError,    # a requested option that reidlab states it does not implement
    zipfile.BadZipFile,
)


def _yaml_error() -> tuple[type[BaseException], ...]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - yaml is a dependency
        return ()
    return (yaml.YAMLError,)


def message_of(exc: BaseException) -> str:
    """The exception's message without Python's decorations (KeyError's quotes included)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text or type(exc).__name__


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS + _yaml_error())


def run_command(func: Callable[[], int | None], command: str, *, debug: bool = False) -> int:
    """Call ``func`` and turn a user error into one line on stderr and exit status 2.

    ``command``: how the user called it (``"train"``, ``"data check"``), for the message.
    With ``debug`` the exception propagates (full traceback).
    """
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted into user errors and bugs below
        if debug:
            raise
        if is_user_error(exc):
            print(f"reidlab {command}: error: {message_of(exc)}", file=sys.stderr)
            return USER_ERROR_EXIT
        traceback.print_exc()
        print(f"reidlab {command}: internal error ({type(exc).__name__}); please report it with the "
              "traceback above", file=sys.stderr)
        return 1
