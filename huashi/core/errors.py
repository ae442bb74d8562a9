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
