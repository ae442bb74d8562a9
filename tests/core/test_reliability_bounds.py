"""Issue 32's bad-input corpus: every case is one clear line before any work (no traceback), every
request for a lot of work is bounded with the limit named, NaN/inf never paints, and nothing of
the user's is lost (a run never overwrites a user's files; a checkpoint's identity lives in its
safetensors header; a latent model notices that its autoencoder changed)."""

import errno
import json
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from safetensors.torch import load_file, save_file

from huashi import api
from huashi.cli import main
from huashi.core import validation
from huashi.core.errors import HuashiError
from huashi.core.images import METADATA_KEY, read_params
from huashi.training.checkpoint import read_header

FAST = dict(precision="fp32", progress=False, n_fixed=4, sample_every=100, log_every=1)
SHAPES = dict(data_options={"n": 16}, batch_size=8)
UNET = {"base_channels": 8, "channel_mults": [1, 2], "res_blocks": 1, "attention_resolutions": [],
        "heads": 2, "norm_groups": 8, "timesteps": 100, "sample_steps": 2}  # fmt: skip
BIG_SEED = "1180591620717411303424"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs of the families the commands need (2 steps each) and two input images."""
    root = tmp_path_factory.mktemp("bounds")
    small = {"dcgan": {"g_width": 4, "d_width": 4, "z_dim": 8},
             "stylegan": {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64,
                          "channel_max": 8},
             "diffusion": UNET | {"condition": "class"}, "vae": {"width": 8, "z_dim": 16},
             "classifier": {"width": 8}}  # fmt: skip
    for family, model in small.items():
        api.train(root / family, family, "shapes", 16, model=model, steps=2, **SHAPES, **FAST)
    Image.new("RGB", (16, 16), (200, 30, 30)).save(root / "a.png")
    Image.new("L", (8, 8), 0).save(root / "mask8.png")
    assert main(["invert", str(root / "stylegan"), str(root / "a.png"), "--steps", "1",
                 "--out", str(root / "inv")]) == 0  # fmt: skip
    return root


def one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def commands(runs, out):
    """Every command that writes a file or folder, with ``out`` as its --out."""
    r, image, latent = str(runs), str(runs / "a.png"), str(runs / "inv" / "latent.safetensors")
    return {
        "sample": ["sample", f"{r}/dcgan", "--n", "2", "--out", out],
        "paint": ["paint", f"{r}/diffusion", "--n", "2", "--out", out],
        "interpolate": ["interpolate", f"{r}/vae", image, image, "--out", out],
        "dream": ["dream", f"{r}/classifier", "noise", "--class", "1", "--out", out],
        "invert": ["invert", f"{r}/stylegan", image, "--steps", "1", "--out", out],
        "edit": ["edit", f"{r}/stylegan", latent, "--direction", "sefa:0", "--out", out],
        "drag": ["drag", f"{r}/stylegan", latent, "--point", "2,2:4,4", "--out", out],
        "export": ["export", f"{r}/dcgan", "--no-check", "--out", out],
        "compare": ["compare", f"{r}/dcgan", "--quiet", "--out", out],
        "data preview": ["data", "preview", "shapes", "--resolution", "16", "--out", out],
        "regenerate": ["regenerate", f"{r}/dcgan/samples.png", "--out", out],
        "translate": ["translate", f"{r}/dcgan", image, "--out", out],
    }


@pytest.mark.parametrize("command", list(commands(Path("r"), "x")))
def test_every_command_refuses_an_out_the_system_will_not_take(runs, capsys, command):
    argv = commands(runs, "/proc/huashi-x.png")[command]
    assert "/proc does not take new files" in one_line_error(capsys, argv)


@pytest.mark.parametrize("command", ["sample", "edit", "export", "compare", "regenerate"])
def test_an_existing_folder_as_out_file_is_refused(runs, tmp_path, capsys, command):
    err = one_line_error(capsys, commands(runs, str(tmp_path))[command])
    assert "it is a folder" in err or "must name a .png file" in err


def test_a_read_only_disk_is_found_by_trying_to_write(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):  # a read-only mount refuses even root
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    for check in (validation.check_output_file, validation.check_output_dir):
        with pytest.raises(HuashiError, match="does not take new files .Read-only file system"):
            check(tmp_path / "x.png")


def test_a_disk_error_during_the_work_is_one_line(runs, tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.png"))

    monkeypatch.setattr(api, "sample", full)
    argv = ["sample", str(runs / "dcgan"), "--out", str(tmp_path / "x.png"), "--quiet"]
    assert "No space left on device" in one_line_error(capsys, argv)


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("sample", ["--seed", BIG_SEED], "seeds are 64-bit numbers"),
        ("paint", ["--seed", BIG_SEED], "seeds are 64-bit numbers"),
        ("sample", ["--device", "foo"], "unknown --device 'foo'"),
        ("sample", ["--threads", "999"], "give at most"),
        ("interpolate", ["--steps", "100000000"], "limit of 1,000"),
        ("dream", ["--size", "100000"], "--size must be >= 1 and <= 1,024"),
        ("dream", ["--steps", "5000", "--octaves", "30"], "limit of 100,000"),
        ("dream", ["--lr", "nan"], "--lr must be a finite number"),
        ("invert", ["--lr", "nan"], "--lr must be a finite number"),
        ("invert", ["--steps", "100000000"], "limit of 100,000"),
        ("invert", ["--mask", "{runs}/mask8.png"], "is 8x8 pixels but the image"),
        ("drag", ["--lr", "nan"], "--lr must be a finite number"),
        ("edit", ["--strength", "nan"], "--strength must be a finite number"),
        ("edit", ["--strength=-3..3:100000000"], "limit of 1,000"),
        ("paint", ["--cfg", "nan"], "--cfg must be a finite number"),
        ("paint", ["--cfg", "inf"], "--cfg must be a finite number"),
        ("paint", ["--eta", "nan"], "--eta must be a finite number"),
        ("sample-stylegan", ["--truncation", "nan"], "--truncation must be a finite number"),
        ("data preview", ["--n", "-1"], "--n must be >= 1"),
        ("data preview", ["--data-option", "n=100000000000"], "limit of 8 GB"),
        ("translate", ["--batch-size", "0"], "--batch-size must be >= 1"),
        ("sample-stylegan", ["--mix", *map(str, range(100))], "--mix 100 is more than"),
        ("paint", ["--sweep", ",".join(["ddim:2"] * 40)], "limit of 32"),
        ("paint", ["--sampler", "euler", "--steps", "100000000"], "100 training timesteps"),
    ],
)
def test_out_of_range_numbers_are_refused_before_the_work(
    runs, tmp_path, capsys, command, flags, message
):
    table = commands(runs, str(tmp_path / "out.png"))
    table["sample-stylegan"] = ["sample", str(runs / "stylegan"), "--out", str(tmp_path / "s.png")]
    flags = [f.format(runs=runs) for f in flags]
    assert message in one_line_error(capsys, table[command] + flags)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--n", "100000000"], "more than huashi's limit of 50,000"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--kid-subsets", "0"], "--kid-subsets must be >= 1"),
        (["--seed", BIG_SEED], "seeds are 64-bit numbers"),
        (["--option", "steps=abc"], "--steps must be a whole number or none, not 'abc'"),
        (["--option", "cfg=nan"], "--cfg must be a finite number"),
    ],
)
def test_eval_checks_its_numbers_and_options(runs, capsys, flags, message):
    argv = ["eval", str(runs / "diffusion"), "--features", f"classifier:{runs / 'classifier'}"]
    evals = sorted(runs.glob("diffusion/eval-*.json"))
    assert message in one_line_error(capsys, [*argv, "--quiet", *flags])
    assert sorted(runs.glob("diffusion/eval-*.json")) == evals  # nothing overwritten


def test_a_huge_model_is_refused_before_allocating(tmp_path, capsys):
    argv = [
        "train",
        "dcgan",
        "--data",
        "shapes",
        "--resolution",
        "16",
        "--out",
        str(tmp_path / "r"),
    ]
    err = one_line_error(capsys, [*argv, "--g-width", "100000"])
    assert "parameters" in err and "limit of 1,000,000,000" in err
    assert "parameters" in one_line_error(capsys, [*argv, "--z-dim", "1000000000"])
    err = one_line_error(capsys, [*argv, "--n-fixed", "100000000"])
    assert "--n-fixed must be >= 1 and <= 1,000" in err
    assert "--seed must be >= 0 and <= 4,294,967,295" in one_line_error(
        capsys, [*argv, "--seed", BIG_SEED]
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "family, flags, message",
    [
        ("diffusion", ["--timesteps", "1000000000"], "--timesteps must be >= 1 and <= 100,000"),
        ("diffusion", ["--heads", "3", "--base-channels", "8"], "--heads 3 does not divide"),
        ("gan", ["--d-steps", "1000000000"], "--d-steps must be >= 1 and <= 100"),
        ("stylegan", ["--mapping-layers", "1000000"], "--mapping-layers must be >= 1 and <= 64"),
    ],
)
def test_counts_that_would_hang_are_bounded(tmp_path, capsys, family, flags, message):
    argv = ["train", family, "--data", "shapes", "--data-option", "n=16", "--resolution", "16"]
    assert message in one_line_error(capsys, [*argv, "--out", str(tmp_path / "r"), *flags])


def test_a_new_run_never_lands_on_the_users_files(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["train", "dcgan", "--data", "shapes", "--resolution", "16"]
    assert "--data is empty" in one_line_error(
        capsys, ["train", "dcgan", "--data", "", "--out", "r"]
    )
    assert "--out is empty" in one_line_error(capsys, [*base, "--out", ""])
    assert "filesystem root" in one_line_error(capsys, [*base, "--out", "/"])
    assert "the current folder" in one_line_error(capsys, [*base, "--out", "."])
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (16, 16)).save(images / "0.png")
    err = one_line_error(capsys, ["train", "dcgan", "--data", "images", "--out", "images/run"])
    assert "inside --data" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "log.jsonl").write_text('{"my": 1}\n')
    assert "is not a huashi run's config" in one_line_error(capsys, [*base, "--out", "mine"])
    (mine / "config.json").unlink()
    assert "log.jsonl of something other" in one_line_error(capsys, [*base, "--out", "mine"])
    assert (mine / "log.jsonl").read_text() == '{"my": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "mine"]


def test_regenerate_refuses_damaged_parameters(runs, tmp_path, capsys):
    assert main(["sample", str(runs / "dcgan"), "--n", "2", "--out", str(tmp_path / "s.png")]) == 0
    source = tmp_path / "s" / "seed-000001.png"
    params = read_params(source)
    for name, text, message in [
        ("bad.png", "{not json", "its huashi parameters are damaged"),
        ("big.png", json.dumps(params | {"batch": [0, 10**8]}), "batch size 100,000,000"),
        ("seed.png", json.dumps(params | {"seed": 2**70}), "seeds are 64-bit"),
    ]:
        info = PngImagePlugin.PngInfo()
        info.add_text(METADATA_KEY, text)
        Image.open(source).save(tmp_path / name, pnginfo=info)
        argv = ["regenerate", str(tmp_path / name), "--out", str(tmp_path / "again.png")]
        assert message in one_line_error(capsys, argv)


def test_a_non_utf8_argument_is_one_line(runs, tmp_path, capsys):
    title = b"\xff\xfe title".decode("utf-8", "surrogateescape")
    argv = ["compare", str(runs / "dcgan"), "--out", str(tmp_path / "c.html"), "--title", title]
    assert "is not valid UTF-8 text" in one_line_error(capsys, argv)


def test_distill_refuses_a_nan_guidance_before_painting_pairs(runs, tmp_path, capsys):
    argv = ["distill", str(runs / "diffusion"), "--data", "shapes", "--pairs", "4", "--heldout",
            "2", "--cfg", "nan", "--out", str(tmp_path / "student")]  # fmt: skip
    assert "--cfg must be a finite number" in one_line_error(capsys, argv)
    assert not (tmp_path / "student").exists()


def test_the_studio_refuses_a_port_out_of_range(capsys):
    assert "--port must be from 0 to 65535" in one_line_error(capsys, ["studio", "--port", "99999"])


# --- a checkpoint's identity lives in its safetensors header ---------------------------------


def test_another_runs_weights_copied_in_are_refused_on_resume_and_sample(runs, tmp_path, capsys):
    mine, other = tmp_path / "mine", tmp_path / "other"
    model = {"g_width": 4, "d_width": 4, "z_dim": 8}
    for folder, seed in ((mine, 0), (other, 1)):
        api.train(folder, "dcgan", "shapes", 16, model=model, steps=2, seed=seed, **SHAPES, **FAST)
    name = "checkpoints/step-00000002.safetensors"
    header = read_header(mine / name)
    assert header["step"] == "2" and header["family"] == "dcgan" and header["run_identity"]
    assert len(header["architecture"]) == 16
    shutil.copy(other / name, mine / name)
    with pytest.raises(HuashiError, match="does not belong with step-00000002.json.*run_identity"):
        api.train(mine, resume=True, steps=4, progress=False)
    argv = ["sample", str(mine), "--n", "2", "--out", str(tmp_path / "x.png")]
    assert "copied from another run or step" in one_line_error(capsys, argv)

    both = tmp_path / "both"  # the JSON copied too: the run's own identity still differs
    shutil.copytree(mine, both)
    for suffix in (".json", ".safetensors"):
        shutil.copy(other / f"checkpoints/step-00000002{suffix}", both / "checkpoints")
    argv = ["sample", str(both), "--n", "2", "--out", str(tmp_path / "y.png")]
    assert "belongs to another run" in one_line_error(capsys, argv)
    checkpoint = str(other / "checkpoints" / "step-00000002.json")  # or named by --checkpoint
    argv = ["sample", str(tmp_path / "both"), "--checkpoint", checkpoint, "--out", argv[-1]]
    assert "belongs to another run" in one_line_error(capsys, argv)


def test_weights_of_another_step_are_refused(tmp_path):
    model = {"g_width": 4, "d_width": 4, "z_dim": 8}
    api.train(tmp_path, "dcgan", "shapes", 16, model=model, steps=4, checkpoint_every=2,
              keep_last=0, **SHAPES, **FAST)  # fmt: skip
    folder = tmp_path / "checkpoints"
    tensors = load_file(str(folder / "step-00000002.safetensors"))
    header = read_header(folder / "step-00000002.safetensors")
    save_file(tensors, str(folder / "step-00000004.safetensors"), metadata=header)
    with pytest.raises(HuashiError, match="step 2 in the weights, 4 in the JSON"):
        api.load_run(tmp_path, cache=False)


def test_a_latent_model_notices_that_its_autoencoder_changed(tmp_path, capsys, monkeypatch):
    vae, ldm = tmp_path / "vae", tmp_path / "ldm"
    api.train(vae, "kl-vae", "shapes", 16, steps=2, checkpoint_every=2,
              model={"width": 8, "max_width": 16, "factor": 4}, **SHAPES, **FAST)  # fmt: skip
    monkeypatch.chdir(tmp_path)  # --latent vae, a relative path, is saved as an absolute one
    api.train("ldm", "diffusion", "shapes", 16, steps=2, model=UNET | {"latent": "vae"},
              **SHAPES, **FAST)  # fmt: skip
    assert json.loads((ldm / "config.json").read_text())["model"]["latent"] == str(vae)
    monkeypatch.chdir(vae)
    assert main(["sample", str(ldm), "--n", "2", "--out", str(tmp_path / "ok.png")]) == 0
    saved = json.loads((ldm / "checkpoints" / "step-00000002.json").read_text())["built_on"]
    assert saved["autoencoder"]["checkpoint"] == "step-00000002.json"
    api.train(vae, resume=True, steps=4, progress=False)  # the autoencoder trains on
    argv = ["sample", str(ldm), "--n", "2", "--out", str(tmp_path / "x.png")]
    err = one_line_error(capsys, argv)
    assert "the autoencoder run" in err and "changed since" in err
    with pytest.raises(HuashiError, match="autoencoder run .* changed since checkpoint"):
        api.train(ldm, resume=True, steps=4, progress=False)


# --- remedies that work -----------------------------------------------------------------------


def test_a_divergence_before_the_first_checkpoint_suggests_a_command_that_works(tmp_path):
    from huashi.training.loop import TrainingDiverged

    model = {"g_width": 4, "d_width": 4, "z_dim": 8, "lr": 1e6}
    with pytest.raises(TrainingDiverged) as caught:
        api.train(tmp_path, "dcgan", "shapes", 16, model=model, steps=6, checkpoint_every=100,
                  **SHAPES, **FAST)  # fmt: skip
    message = str(caught.value)
    assert "before its first checkpoint" in message and "--resume" not in message
    command = message.split("`")[1]
    assert (
        "--steps 6 --lr 2e-05" in command and "--config" in command
    )  # the default's tenth, not a tenth of 1e6
    assert main([*shlex.split(command)[1:], "--steps", "2", "--quiet"]) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["lr"] == 2e-5 and saved["train"]["precision"] == "fp32"


def test_a_zoo_autoencoder_interpolates(tmp_path):
    image = tmp_path / "a.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)
    argv = ["interpolate", "zoo:shapes-kl-vae", str(image), str(image), "--steps", "2"]
    assert main([*argv, "--out", str(tmp_path / "walk.png")]) == 0


# --- a disk that fills during training --------------------------------------------------------


def test_a_log_write_the_disk_refuses_keeps_training(tmp_path, capsys, monkeypatch):
    from huashi.training.logging import RunLog

    real = RunLog.write

    def full_at_step_2(self, record):
        if record["step"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, record)

    monkeypatch.setattr(RunLog, "write", full_at_step_2)
    model = {"g_width": 4, "d_width": 4, "z_dim": 8}
    result = api.train(tmp_path, "dcgan", "shapes", 16, model=model, steps=3, **SHAPES, **FAST)
    assert result.step == 3 and not result.interrupted
    assert "could not write the log at step 2" in capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 3]


def test_a_log_write_the_disk_refuses_leaves_no_torn_line(tmp_path, monkeypatch):
    from huashi.training.logging import RunLog

    log = RunLog(tmp_path / "log.jsonl")
    log.write({"step": 1})
    real_open = Path.open

    def torn(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        if mode == "a":  # half a line reaches the disk, then it is full
            handle.write('{"step": 2, "lo')
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(Path, "open", torn)
    with pytest.raises(OSError):
        log.write({"step": 2, "loss": 1.0})
    monkeypatch.undo()
    assert (tmp_path / "log.jsonl").read_text() == '{"step": 1}\n'
