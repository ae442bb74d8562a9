"""Bad input gets one clear line, never a traceback: damaged config.json and checkpoint JSON,
out-of-range options (CLI, config file and API alike), sizes checked before allocating, output
paths checked before the work, a failed checkpoint write that keeps training."""

import json
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.training.checkpoint import load_checkpoint
from huashi.training.loop import TrainConfig

TINY = dict(
    family="dcgan", data="shapes", resolution=16, model={"g_width": 4, "d_width": 4, "z_dim": 8},
    data_options={"n": 16}, batch_size=8, checkpoint_every=2, sample_every=100, n_fixed=4,
    log_every=1, precision="fp32", progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    api.train(folder, steps=2, **TINY)
    return folder


def one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_hand_edited_config_json_gets_one_message_per_field(run, tmp_path, capsys):
    config = json.loads((run / "config.json").read_text())
    config["train"] |= {"steps": "abc", "bogus": 1}
    config["model"] |= {"g_width": "abc", "d_width": -4}
    del config["data"]["spec"]
    config["data_info"]["channels"] = "x"
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text(json.dumps(config))
    err = one_line_error(capsys, ["sample", str(damaged), "--out", str(tmp_path / "x.png")])
    for part in (
        "train.bogus is not a known field", "train.steps must be a whole number, not 'abc'",
        "model.g_width must be a whole number, not 'abc'", "model.d_width must be >= 1, not -4",
        "data.spec is missing", "data_info.channels must be a whole number, not 'x'",
    ):  # fmt: skip
        assert part in err


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("step"), "step is missing"),
        (lambda m: m.update(step="abc"), "step must be int, not 'abc'"),
        (lambda m: m.update(images_seen=-1), "images_seen must be a finite number >= 0"),
    ],
)
def test_a_damaged_checkpoint_json_is_one_clear_line(run, tmp_path, change, message):
    source = run / "checkpoints" / "step-00000002"
    meta = json.loads(source.with_suffix(".json").read_text())
    change(meta)
    (tmp_path / "step-00000002.json").write_text(json.dumps(meta))
    (tmp_path / "step-00000002.safetensors").write_bytes(
        source.with_suffix(".safetensors").read_bytes()
    )
    with pytest.raises(HuashiError, match=message):
        load_checkpoint(tmp_path / "step-00000002.json")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(python_random=[3, [1, 2]]), "damaged random-number states"),
        (lambda m: m.update(optimizers={}), "no state for the optimizer"),
        (lambda m: m.pop("position"), "lacks position: it holds weights only"),
    ],
)
def test_resuming_from_a_damaged_checkpoint_is_one_clear_line(run, tmp_path, change, message):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    path = copy / "checkpoints" / "step-00000002.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(HuashiError, match=message):
        api.train(copy, resume=True, steps=4, progress=False)


def test_non_finite_weights_are_refused_on_load(run, tmp_path):
    source = run / "checkpoints" / "step-00000002"
    tensors = load_file(str(source.with_suffix(".safetensors")))
    key = next(k for k in tensors if k.startswith("modules/generator/") and "weight" in k)
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("nan")
    save_file(tensors, str(tmp_path / "step-00000002.safetensors"))
    (tmp_path / "step-00000002.json").write_text(source.with_suffix(".json").read_text())
    with pytest.raises(HuashiError, match=f"non-finite weights .*{key}"):
        load_checkpoint(tmp_path / "step-00000002.json")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "-1"], "--lr must be >= 0, not -1"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1, not 0"),
        (["--log-every", "0"], "--log-every must be >= 1, not 0"),
        (["--z-dim", "0"], "--z-dim must be >= 1, not 0"),
        (["--ema", "1.5"], "--ema must be >= 0 and < 1, not 1.5"),
        (["--data-option", "foo"], "expected KEY=VALUE, got 'foo'"),
        (
            ["--resolution", "0"],
            "power-of-two number of pixels from 4 to 1024 (16, 32, 64, ...), not 0",
        ),
        (["--resolution", "100000"], "not 100000"),
        (["--resolution", "48"], "power-of-two"),
    ],
)
def test_every_training_option_is_checked_before_work(tmp_path, capsys, flags, message):
    argv = ["train", "dcgan", "--data", "shapes", "--out", str(tmp_path / "r"), *flags]
    assert message in one_line_error(capsys, argv)
    assert not (tmp_path / "r").exists()


def test_an_unknown_precision_is_refused_by_the_cli_and_the_api(tmp_path, capsys):
    argv = ["train", "dcgan", "--data", "shapes", "--out", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as exit_info:  # argparse knows the choices
        main([*argv, "--precision", "fp8"])
    assert exit_info.value.code == 2
    assert (
        "invalid choice: 'fp8' (choose from 'auto', 'fp32', 'bf16', 'fp16')"
        in capsys.readouterr().err
    )
    with pytest.raises(HuashiError, match="unknown precision 'fp8'"):
        TrainConfig(precision="fp8")
    assert not (tmp_path / "r").exists()


def test_the_same_ranges_hold_for_the_api_and_a_config_file(tmp_path, capsys):
    with pytest.raises(HuashiError, match="--log-every must be >= 1, not 0"):
        TrainConfig(log_every=0)
    with pytest.raises(HuashiError, match="--g-width must be >= 1, not -4"):
        api.train(tmp_path / "r", steps=2, **{**TINY, "model": {"g_width": -4}})
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"train": {"checkpoint_every": 0}}))
    argv = ["train", "dcgan", "--data", "shapes", "--out", str(tmp_path / "r"), "--config"]
    assert "--checkpoint-every must be >= 1" in one_line_error(capsys, [*argv, str(config)])
    model_pt = tmp_path / "model.pt"
    model_pt.write_bytes(b"\x80\x04\x95PK\x03\x04\xff\xfe")  # a pickle, not JSON
    assert "not UTF-8 JSON text" in one_line_error(capsys, [*argv, str(model_pt)])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--batch-size", "0"], "--batch-size must be a whole number >= 1, not 0"),
        (["--n", "100000000"], "more than the 10,000 images"),
        (["--n", "0"], "--n must be a whole number >= 1, not 0"),
    ],
)
def test_sample_sizes_are_checked(run, tmp_path, capsys, flags, message):
    argv = ["sample", str(run), "--out", str(tmp_path / "x.png"), *flags]
    assert message in one_line_error(capsys, argv)


def test_unwritable_outputs_are_refused_before_the_work(run, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    calls = []
    monkeypatch.setattr(api.runs, "load_run", lambda *a, **k: calls.append(a))
    err = one_line_error(capsys, ["sample", str(run), "--out", str(a_file / "x.png")])
    assert "is a file, not a folder" in err and not calls  # nothing was generated
    err = one_line_error(capsys, ["train", "dcgan", "--data", "shapes", "--out", str(a_file / "r")])
    assert "is a file" in err
    err = one_line_error(capsys, ["data", "preview", "shapes", "--out", str(a_file / "p.png")])
    assert "is a file, not a folder" in err
    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(image)
    for argv in (
        ["paint", str(run), "--out", str(a_file / "x.png")],
        ["translate", str(run), str(image), "--out", str(a_file / "out")],
        ["interpolate", str(run), str(image), str(image), "--out", str(a_file / "walk.png")],
    ):
        err = one_line_error(capsys, argv)
        assert "is a file, not a folder" in err and not calls, argv
    err = one_line_error(capsys, ["translate", str(run), str(image), "--out", str(a_file)])
    assert "it is a file, not a folder" in err


def test_a_failed_checkpoint_write_keeps_training_and_says_so(tmp_path, capsys, monkeypatch):
    from huashi.training import loop

    real, failures = loop.save_checkpoint, []

    def flaky(folder, step, *args, **kwargs):
        if step == 2:
            failures.append(step)
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder, step, *args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", flaky)
    result = api.train(tmp_path, steps=4, **TINY)
    assert failures == [2] and result.step == 4
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.json")) == [
        "step-00000004.json"
    ]
    err = capsys.readouterr().err
    assert "could not write the checkpoint at step 2" in err and "training goes on" in err
    straight = tmp_path / "straight"
    api.train(straight, steps=4, **TINY)
    a, _ = load_checkpoint(tmp_path / "checkpoints" / "step-00000004.json")
    b, _ = load_checkpoint(straight / "checkpoints" / "step-00000004.json")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the failure changed nothing in training


def test_a_text_encoder_with_only_pickled_weights_is_refused_unopened(tmp_path):
    import pickle

    from huashi.text.encoder import TextEncoder

    pytest.importorskip("transformers")
    folder = tmp_path / "fake-hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    marker = tmp_path / "pwned"

    class Payload:  # unpickling this would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(HuashiError, match=r"only pickled weights \(pytorch_model.bin\)"):
        TextEncoder(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "{run}", "--kid-subsets", "0"], "--kid-subsets must be >= 1, not 0"),
        (["eval", "{run}", "--out", "{tmp}/e.txt"], "--out must name a .json file, got"),
        (["paint", "{run}", "--cfg", "nan"], "--cfg must be a finite number, not nan"),
        (["paint", "{run}", "--n", "0"], "--n must be a whole number >= 1, not 0"),
        (["dream", "{run}", "noise", "--layer", "x", "--size", "5000"],
         "--size must be >= 1 and <= 1,024, not 5000"),
    ],
)  # fmt: skip
def test_values_that_need_no_model_fail_before_it_loads(run, tmp_path, capsys, monkeypatch,
                                                         argv, message):  # fmt: skip
    argv = [a.format(run=run, tmp=tmp_path) for a in argv]
    err = one_line_error(capsys, argv)  # the model loads as usual
    assert message in err

    def no_loading(*args, **kwargs):
        raise AssertionError("the run was loaded")

    monkeypatch.setattr(api.runs, "load_run", no_loading)
    monkeypatch.setattr(api, "load_dream_net", no_loading)
    assert one_line_error(capsys, argv) == err  # the same line, and nothing was loaded
