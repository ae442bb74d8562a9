"""The training doctor: the seed's failure signs of GAN training, read from the run log.

:func:`diagnose` is a pure function of the JSONL log records (``d_loss``, ``g_loss``, ``d_real``
/ ``d_fake``, ``d_grad_norm`` / ``g_grad_norm``, ``diversity`` / ``data_diversity``; keys a
family does not log are skipped) and the run's config. Each :class:`Finding` names the sign, the
evidence in the log and the seed's remedy, built from the config: only settings the run does not
use yet, and for a setting in use, what to change about it. :class:`DoctorCallback` watches a
run and prints each finding once, when it first appears; ``huashi doctor RUN`` prints the
diagnosis of a finished or running run.

:mod:`~huashi.training.doctor.signs` holds the checks (and the vital signs a GAN logs),
:mod:`~huashi.training.doctor.remedies` the remedies, :mod:`~huashi.training.doctor.diagnosis`
the diagnosis of a run and the callback. The checks look at the most recent quarter of the
records (at least ``MIN_WINDOW`` records) so that a run that recovered is not reported for an
old problem.
"""

from huashi.training.doctor.diagnosis import (
    DoctorCallback,
    diagnose,
    grid_diversity,
    is_gan_log,
    run_checks,
)
from huashi.training.doctor.remedies import AUGMENT_ORDER, LABEL_LOSSES, remedy, suggestions
from huashi.training.doctor.signs import Finding, grad_norm, mean_pairwise_distance

__all__ = [
    "AUGMENT_ORDER",
    "LABEL_LOSSES",
    "DoctorCallback",
    "Finding",
    "diagnose",
    "grad_norm",
    "grid_diversity",
    "is_gan_log",
    "mean_pairwise_distance",
    "remedy",
    "run_checks",
    "suggestions",
]
