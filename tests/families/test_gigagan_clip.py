"""GigaGAN's CLIP contrastive term: its closed form, that its gradient pulls an image toward its
own prompt, and a gigagan run with a frozen clip run (saved in config.json, exact resume)."""

import json

import pytest
import torch
import torch.nn.functional as F

from huashi import api
from huashi.core.errors import HuashiError
from huashi.families.gigagan import GigaGANConfig
from huashi.losses.clip import clip_guidance_loss
from huashi.models.features.clip import CLIP, CLIPConfig
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint


def test_the_term_is_cross_entropy_against_the_own_prompt():
    torch.manual_seed(0)
    image = F.normalize(torch.randn(4, 8), dim=1)
    text = F.normalize(torch.randn(4, 8), dim=1)
    distinct = torch.eye(4, dtype=torch.bool)
    scale = torch.tensor(7.0)
    expected = F.cross_entropy(scale * image @ text.T, torch.arange(4))
    torch.testing.assert_close(clip_guidance_loss(image, text, scale, distinct), expected)
    # prompts 0 and 1 are the same caption: both count as positives, half each
    same = distinct.clone()
    same[0, 1] = same[1, 0] = True
    logp = (scale * image @ text.T).log_softmax(dim=1)
    rows = [
        -(logp[0, 0] + logp[0, 1]) / 2,
        -(logp[1, 0] + logp[1, 1]) / 2,
        -logp[2, 2],
        -logp[3, 3],
    ]
    torch.testing.assert_close(
        clip_guidance_loss(image, text, scale, same), torch.stack(rows).mean()
    )


def test_a_gradient_step_on_the_images_raises_each_images_share_of_its_own_prompt():
    """Through a (random, frozen) CLIP image encoder: a small step down the term's gradient
    lowers the term and gives every image a larger softmax share of its own prompt among the
    batch's prompts (each image's part of the term depends on that image alone)."""
    torch.manual_seed(0)
    clip = CLIP(CLIPConfig(width=8, embed_dim=16, text_hidden=16), 3, 16, 16).eval()
    clip.requires_grad_(False)
    text = F.normalize(torch.randn(3, 16), dim=1)
    images = (torch.rand(3, 3, 16, 16) * 2 - 1).requires_grad_(True)
    same = torch.eye(3, dtype=torch.bool)

    def scores(x):
        emb = clip.embed_images(x)
        share = (clip.scale() * emb @ text.T).softmax(dim=1).diagonal()
        return clip_guidance_loss(emb, text, clip.scale(), same), share.detach()

    loss, share = scores(images)
    loss.backward()
    assert all(p.grad is None for p in clip.parameters())  # the scorer stays frozen
    step = images.detach() - 0.01 * images.grad / images.grad.norm()
    new_loss, new_share = scores(step)
    assert new_loss < loss
    assert (new_share > share).all(), (share, new_share)


TINY_GIGA = {
    "z_dim": 8, "w_dim": 8, "mapping_layers": 1, "text_width": 8, "text_layers": 1,
    "channel_base": 64, "channel_max": 8, "num_kernels": 2,
}  # fmt: skip
TRAIN = {"batch_size": 4, "sample_every": 100, "n_fixed": 4, "log_every": 1, "ema": 0.9}


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory, tiny_text_encoder):
    out = tmp_path_factory.mktemp("runs") / "clip"
    model = {"width": 8, "embed_dim": 16, "text_hidden": 16, "text_encoder": tiny_text_encoder}
    api.train(out, family="clip", data="shapes", resolution=16, model=model,
              data_options={"n": 16}, progress=False, steps=2, batch_size=8)  # fmt: skip
    return out


def test_a_gigagan_run_with_the_term_saves_it_and_resumes_exactly(
    clip_run, tiny_text_encoder, tmp_path
):
    model = TINY_GIGA | {"text_encoder": tiny_text_encoder, "clip_weight": 0.5,
                         "clip_run": str(clip_run)}  # fmt: skip

    def train(out, steps, resume=False):
        return api.train(out, family="gigagan", data="shapes", resolution=16,
                         model=None if resume else model, data_options=None if resume else
                         {"n": 16}, resume=resume, progress=False, steps=steps,
                         **({} if resume else TRAIN))  # fmt: skip

    train(tmp_path / "a", 4)
    train(tmp_path / "b", 2)
    train(tmp_path / "b", 4, resume=True)
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["model"]
    assert saved["clip_weight"] == 0.5 and saved["clip_run"] == str(clip_run)
    logs = [(tmp_path / r / "log.jsonl").read_text().splitlines() for r in "ab"]
    rows = [json.loads(line) for line in logs[0]]
    assert all("g_clip" in row for row in rows if "g_loss" in row) and len(rows) >= 4
    (a, _), (b, _) = (
        load_checkpoint(latest_checkpoint(tmp_path / r / "checkpoints")) for r in "ab"
    )
    assert a.keys() == b.keys() and not any(k.startswith(("modules/clip", "ema/clip")) for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the term changes training: the same run without it ends elsewhere
    plain = api.train(tmp_path / "c", family="gigagan", data="shapes", resolution=16,
                      model=model | {"clip_weight": 0.0}, data_options={"n": 16},
                      progress=False, steps=4, **TRAIN)  # fmt: skip
    c, _ = load_checkpoint(plain.checkpoint)
    assert any(not torch.equal(a[k], c[k]) for k in a if k.startswith("modules/generator"))


def test_the_term_needs_a_clip_run(tmp_path, tiny_text_encoder):
    with pytest.raises(HuashiError, match="--clip-weight needs --clip-run"):
        GigaGANConfig(clip_weight=1.0)
    with pytest.raises(HuashiError, match="must not be negative"):
        GigaGANConfig(clip_weight=-1.0)
    assert GigaGANConfig().clip_weight == 0  # off by default
