"""This process's share of the machine, for a face that runs one command: its CPU threads, its
place among torchrun's ranks and the text of its arguments."""

from __future__ import annotations

from collections.abc import Sequence

from huashi.core.validation import check_text
from huashi.training import distributed, threads


def set_threads(count: int | str = "auto", claim: bool = False) -> int:
    """Set this process's CPU threads: a number, ``all`` or ``auto`` (see
    :mod:`huashi.training.threads`); with ``claim`` the count is registered so that other
    huashi processes leave those cores to it. Returns the count."""
    return threads.set_threads(count, claim=claim)


def is_main_process() -> bool:
    """Whether this process reports for all (rank 0 under torchrun; always true alone)."""
    return distributed.current().is_main


def finish_command(exit_code: int) -> int:
    """After a command: under torchrun, a rank that :func:`huashi.api.train` joined to the
    process group and that succeeded leaves it together with the others and ends at once;
    otherwise returns ``exit_code``."""
    return distributed.finish(exit_code)


def check_arguments(values: Sequence[str]) -> None:
    """Every command-line argument must be text that can be written as UTF-8 (one of
    undecodable bytes cannot): a one-line error naming the first that is not."""
    for value in values:
        check_text(value, "an argument")
