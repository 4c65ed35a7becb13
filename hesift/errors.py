"""User-facing errors and the exit code of each kind (one table for every command).

| code | kind | raised as |
|---|---|---|
| 0 | success | |
| 1 | failure: anything else (an output that cannot be written, a bug) | |
| 2 | usage: a bad option, argument or combination of them | :class:`UsageError`, ``InputError`` |
| 3 | missing input: a named input file does not exist | :class:`MissingInputError` |
| 4 | unreadable input: exists but cannot be read or decoded | :class:`UnreadableInputError` |
| 5 | wrong key: the key does not match the data, or the wrong half of it | :class:`WrongKeyError` |
| 6 | refused size: over --max-time, --max-memory or a pixel limit | :class:`SizeRefusedError` |
| 7 | service error: the gallery database or a server is unavailable | :class:`ServiceError` |
| 130 | interrupted (Ctrl-C / SIGINT) | ``KeyboardInterrupt`` |

docs/cli.md carries the same table for users.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_SERVICE",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "EXIT_WRONG_KEY",
    "InputError",
    "MissingInputError",
    "ServiceError",
    "SizeRefusedError",
    "UnreadableInputError",
    "UsageError",
    "WrongKeyError",
    "exit_code_of",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_UNREADABLE = 4
EXIT_WRONG_KEY = 5
EXIT_REFUSED = 6
EXIT_SERVICE = 7
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Bad user input (file, image, key or parameter); the message is one line."""

    exit_code = EXIT_USAGE


class UsageError(InputError):
    """A bad option, argument or combination."""

    exit_code = EXIT_USAGE


class MissingInputError(InputError):
    """A named input file does not exist."""

    exit_code = EXIT_MISSING


class UnreadableInputError(InputError):
    """An input exists but cannot be read, decoded or trusted."""

    exit_code = EXIT_UNREADABLE


class WrongKeyError(InputError):
    """A key that does not fit: another key's data, or a private key where a public one goes."""

    exit_code = EXIT_WRONG_KEY


class SizeRefusedError(InputError):
    """Work refused before it starts: over a time, memory or pixel limit."""

    exit_code = EXIT_REFUSED


class ServiceError(RuntimeError):
    """A database or server the command needs is unavailable or failed."""

    exit_code = EXIT_SERVICE


def exit_code_of(e: BaseException) -> int:
    """The exit code of an exception a command let through (see the table above)."""
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    code = getattr(e, "exit_code", None)
    if isinstance(code, int):
        return code
    code = getattr(e, "code", None)  # CLIError
    if isinstance(code, int) and not isinstance(e, OSError):
        return code
    if isinstance(e, FileNotFoundError):
        return EXIT_MISSING
    if isinstance(e, (PermissionError, IsADirectoryError)):
        return EXIT_UNREADABLE
    return EXIT_FAILURE
