"""The one training machine, which knows a model family only through a small interface.

The loop (:mod:`~huashi.training.loop`), the step context a family trains with and the
:class:`~huashi.training.step.Trainable` protocol the loop needs (:mod:`~huashi.training.step`),
checkpoints (safetensors + JSON), devices and precision, EMA, the run lock, logs, resume rules,
torchrun support and the training doctor that reads a run's health from its log. It imports
:mod:`huashi.core` and :mod:`huashi.data`, never the models, the families or anything above.
"""
