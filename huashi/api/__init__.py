"""The public Python API: every action of the command line and the studio, as functions that
return typed results. The CLI and the studio are thin faces over these functions.

One module per action group: :mod:`~huashi.api.train` (training),
:mod:`~huashi.api.paint` (sampling, painting, regenerating), :mod:`~huashi.api.measure`
(metrics, comparison, CLIP labels, the doctor), :mod:`~huashi.api.tools` (translate, upscale,
latent walks, DeepDream, distillation, export, data previews), :mod:`~huashi.api.latent` (GAN
inversion, editing, mixing, dragging), :mod:`~huashi.api.runs` (the one cache of loaded runs,
what a run folder says, the zoo), :mod:`~huashi.api.catalog` (the families, datasets, training
options, samplers and recipes to choose from), :mod:`~huashi.api.images` (PNGs with the
parameters that paint them again) and :mod:`~huashi.api.process` (a command's CPU threads and
torchrun ranks).

Long actions take an optional ``progress(done, total, message)`` callback (called with growing
``done`` and ending with ``done == total``); nothing here prints, draws or parses arguments.
Generating from one loaded run in several threads at once gives each thread the images it would
get alone. The API may import every layer below it; nothing below imports it.
"""

from __future__ import annotations

from huashi.api.catalog import (
    FamilyInfo,
    Option,
    datasets,
    families,
    family_info,
    family_options,
    precisions,
    recipe,
    recipes,
    samplers,
    train_option_names,
    train_options,
    walk_paths,
)
from huashi.api.images import read_parameters, save_grid, save_image, text_parameters
from huashi.api.latent import (
    EditSweep,
    SeedWalk,
    drag,
    drag_latent,
    edit,
    edit_latent,
    invert,
    invert_image,
    latent_spaces,
    mixing_grid,
    save_latent,
    walk_seeds,
)
from huashi.api.measure import (
    ClipLabels,
    CompareResult,
    DoctorReport,
    EvalResult,
    MetricRow,
    card_fid,
    card_other_scores,
    clip_labels,
    compare,
    doctor,
    evaluate,
    metric_rows,
    reference_views,
    validate_features,
)
from huashi.api.paint import (
    PaintPass,
    PaintResult,
    SampleResult,
    check_condition,
    paint,
    parse_label,
    regenerate,
    sample,
)
from huashi.api.process import check_arguments, finish_command, is_main_process, set_threads
from huashi.api.runs import (
    CachedRun,
    RunCache,
    RunInfo,
    cached_run,
    clear_run_cache,
    device_name,
    load_run,
    run_info,
    run_log,
    zoo_folder,
    zoo_painters,
    zoo_root,
)
from huashi.api.tools import (
    DataPreview,
    distill,
    dream,
    evaluate_pairs,
    export,
    export_data,
    interpolate,
    list_layers,
    load_dream_net,
    preview_data,
    translate,
    upscale,
)
from huashi.api.train import check_train, data_info_of, read_train_config, train
from huashi.core.progress import Progress
from huashi.core.zoo_folders import ZooEntry
from huashi.recipes import Recipe
from huashi.runs import LoadedRun
from huashi.tools.dream import DreamSettings
from huashi.tools.interpolate import Interpolation
from huashi.tools.translate import TranslateResult
from huashi.tools.upscale import UpscaleResult
from huashi.training.loop import TrainConfig, TrainResult

__all__ = [
    "CachedRun",
    "ClipLabels",
    "CompareResult",
    "DataPreview",
    "DoctorReport",
    "DreamSettings",
    "EditSweep",
    "EvalResult",
    "FamilyInfo",
    "Interpolation",
    "LoadedRun",
    "MetricRow",
    "Option",
    "PaintPass",
    "PaintResult",
    "Progress",
    "Recipe",
    "RunCache",
    "RunInfo",
    "SampleResult",
    "SeedWalk",
    "TrainConfig",
    "TrainResult",
    "TranslateResult",
    "UpscaleResult",
    "ZooEntry",
    "cached_run",
    "card_fid",
    "card_other_scores",
    "check_arguments",
    "check_condition",
    "check_train",
    "clear_run_cache",
    "clip_labels",
    "compare",
    "data_info_of",
    "datasets",
    "device_name",
    "distill",
    "doctor",
    "drag",
    "drag_latent",
    "dream",
    "edit",
    "edit_latent",
    "evaluate",
    "evaluate_pairs",
    "export",
    "export_data",
    "families",
    "family_info",
    "family_options",
    "finish_command",
    "interpolate",
    "invert",
    "invert_image",
    "is_main_process",
    "latent_spaces",
    "list_layers",
    "load_dream_net",
    "load_run",
    "metric_rows",
    "mixing_grid",
    "paint",
    "parse_label",
    "precisions",
    "preview_data",
    "read_parameters",
    "read_train_config",
    "recipe",
    "recipes",
    "reference_views",
    "regenerate",
    "run_info",
    "run_log",
    "sample",
    "samplers",
    "save_grid",
    "save_image",
    "save_latent",
    "set_threads",
    "text_parameters",
    "train",
    "train_option_names",
    "train_options",
    "translate",
    "upscale",
    "validate_features",
    "walk_paths",
    "walk_seeds",
    "zoo_folder",
    "zoo_painters",
    "zoo_root",
]
