"""The one exception type for mistakes a user can fix.

The CLI prints a ``HuashiError`` as a single line (no traceback) and exits with status 2.
Every message says what went wrong and what to do about it.
"""


class HuashiError(Exception):
    """A user-facing error: bad input, a missing file, font or package, a mismatched run."""


def missing_package(package: str, extra: str, purpose: str) -> HuashiError:
    """The error for an optional dependency that is not installed."""
    return HuashiError(
        f"{purpose} needs the Python package '{package}', which is not installed: "
        f"run `pip install 'huashi[{extra}]'` (or `pip install {package}`)."
    )


def system_error_line(error: BaseException) -> str | None:
    """One line for an error of the machine rather than of huashi (a full or read-only disk, a
    path the system refuses, memory that runs out), or None for any other error: the CLI's last
    guard, behind the checks made before the work starts."""
    if isinstance(error, OSError) and error.strerror:
        where = f" {error.filename}" if error.filename else ""
        return f"cannot go on: {error.strerror}{where} (free space or choose another folder)."
    text = str(error)
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError)
        and any(s in text for s in ("can't allocate memory", "bad_alloc", "out of memory"))
    ):
        return (
            "not enough memory for this request: ask for less (smaller sizes, fewer images or "
            "a lower --batch-size)."
        )
    return None
