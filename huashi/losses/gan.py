"""GAN losses and regularizers as small pure functions of discriminator logits.

Every loss has a D side ``d_loss(real_logits, fake_logits)`` and a G side ``g_loss(fake_logits)``
(the logits of G's fakes, computed with gradients through G). ``LOSSES`` maps the names the
``gan`` family accepts to these pairs. BCE-type losses and LSGAN take optional per-sample targets
for the real and fake terms (label smoothing and flipping); hinge and WGAN have no labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


def _targets(target: Tensor | None, like: Tensor, value: float) -> Tensor:
    return torch.full_like(like, value) if target is None else target.to(like.dtype)


# --- minimax / non-saturating BCE (Goodfellow et al. 2014) -------------------------------------


def bce_d_loss(
    real: Tensor, fake: Tensor, real_target: Tensor | None = None, fake_target: Tensor | None = None
) -> Tensor:
    """-[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logit), targets 1 and 0 by default."""
    return F.binary_cross_entropy_with_logits(
        real, _targets(real_target, real, 1.0)
    ) + F.binary_cross_entropy_with_logits(fake, _targets(fake_target, fake, 0.0))


def minimax_g_loss(fake: Tensor) -> Tensor:
    """The original minimax G loss log(1 - D(G(z))) (it saturates when D wins)."""
    return -F.softplus(fake).mean()  # log(1 - sigmoid(l)) = -softplus(l)


def nonsaturating_g_loss(fake: Tensor) -> Tensor:
    """The non-saturating G loss -log D(G(z))."""
    return F.softplus(-fake).mean()  # -log sigmoid(l) = softplus(-l)


# --- WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017) ---------------------------


def wgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """The seed's critic loss: -(mean D(real) - mean D(fake))."""
    return -(real.mean() - fake.mean())


def wgan_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


@torch.no_grad()
def clip_weights(module: nn.Module, limit: float) -> None:
    """WGAN's weight clipping: every parameter of the critic into [-limit, limit], in place."""
    for parameter in module.parameters():
        parameter.clamp_(-limit, limit)


# --- LSGAN (Mao et al. 2017) --------------------------------------------------------------------


def lsgan_d_loss(
    real: Tensor, fake: Tensor, real_target: Tensor | None = None, fake_target: Tensor | None = None
) -> Tensor:
    """0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2 on raw outputs."""
    return (
        0.5 * ((real - _targets(real_target, real, 1.0)) ** 2).mean()
        + 0.5 * ((fake - _targets(fake_target, fake, 0.0)) ** 2).mean()
    )


def lsgan_g_loss(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


# --- hinge (Lim & Ye 2017; SNGAN, BigGAN) -------------------------------------------------------


def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


#: name -> (D loss, G loss, takes label targets)
LOSSES: dict[str, tuple[Callable[..., Tensor], Callable[[Tensor], Tensor], bool]] = {
    "hinge": (hinge_d_loss, hinge_g_loss, False),
    "bce": (bce_d_loss, minimax_g_loss, True),
    "nsgan": (bce_d_loss, nonsaturating_g_loss, True),
    "wgan": (wgan_d_loss, wgan_g_loss, False),
    "wgan-gp": (wgan_d_loss, wgan_g_loss, False),
    "lsgan": (lsgan_d_loss, lsgan_g_loss, True),
}


# --- regularizers -------------------------------------------------------------------------------


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    alpha: Tensor,
    loss_scale: float = 1.0,
) -> Tensor:
    """WGAN-GP: mean over samples of (||grad_x D(x_hat)|| - 1)^2 at x_hat = alpha real +
    (1 - alpha) fake, with ``alpha`` [B] in [0, 1]. The graph is kept, so it trains D.
    ``loss_scale``: see :func:`input_gradient`."""
    a = alpha.view(-1, *[1] * (real.dim() - 1)).to(real.dtype)
    mixed = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    grad = input_gradient(critic(mixed), mixed, loss_scale)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(real_logits: Tensor, real: Tensor, loss_scale: float = 1.0) -> Tensor:
    """R1 (Mescheder et al. 2018): mean over samples of ||grad_x D(x)||^2 on real images.
    ``real`` must require grad and ``real_logits`` be computed from it. The caller weighs it by
    gamma / 2 (and, when lazy, by the interval at which it is applied). ``loss_scale``: see
    :func:`input_gradient`."""
    grad = input_gradient(real_logits, real, loss_scale)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def input_gradient(logits: Tensor, inputs: Tensor, loss_scale: float = 1.0) -> Tensor:
    """d(sum of logits)/d(inputs), kept in the graph. In fp16 training (``loss_scale`` > 1, the
    gradient scaler's scale) the logits are scaled before the backward pass, so that small fp16
    gradients do not flush to zero on the way, and the result is divided back."""
    (grad,) = torch.autograd.grad(logits.sum() * loss_scale, inputs, create_graph=True)
    return grad / loss_scale if loss_scale != 1.0 else grad


def r1_due(step: int, every: int) -> bool:
    """Lazy regularization: apply R1 on steps 0, every, 2 every, ..."""
    return every > 0 and step % every == 0


def matching_aware_batch(
    real: torch.Tensor, fake: torch.Tensor, captions: Sequence[str], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The matching-aware discriminator's pairs (GAN-CLS, Reed et al. 2016).

    Returns ``images`` [3B'], ``caption_index`` [3B'] (into ``captions``) and ``is_real`` [3B']:
    (real, right caption) -> real; (fake, right caption) -> fake; (real, wrong caption) -> fake.
    The wrong caption of image i is drawn from the batch among captions that differ from
    ``captions[i]``; an image whose batch holds no different caption gets no wrong pair.
    """
    b = len(real)
    draws = torch.rand(b, generator=generator, device=generator.device).cpu().tolist()
    keep, wrong = [], []
    for i in range(b):
        others = [j for j in range(b) if captions[j] != captions[i]]
        if others:
            keep.append(i)
            wrong.append(others[int(draws[i] * len(others))])
    right = torch.arange(b, device=real.device)
    keep_t = torch.tensor(keep, dtype=torch.long, device=real.device)
    wrong_t = torch.tensor(wrong, dtype=torch.long, device=real.device)
    images = torch.cat([real, fake, real[keep_t]])
    caption_index = torch.cat([right, right, wrong_t])
    is_real = torch.cat(
        [torch.ones(b, dtype=torch.bool), torch.zeros(b + len(keep), dtype=torch.bool)]
    ).to(real.device)
    return images, caption_index, is_real


def reconstruction_loss(redrawn: Tensor, images: Tensor) -> Tensor:
    """A self-supervised D's redrawing loss (FastGAN): mean squared error to the images it saw."""
    return F.mse_loss(redrawn.float(), images.float())


def top_fraction(fake_logits: Tensor, fraction: float) -> Tensor:
    """Top-k training (Sinha et al. 2020): the ``fraction`` of G's fake logits that D rates most
    real (at least one), so G's update ignores the fakes D sees through most easily."""
    k = max(1, round(fraction * len(fake_logits)))
    return fake_logits if k >= len(fake_logits) else fake_logits.topk(k).values


def mean_scores(loss: str, real_logits: Tensor, fake_logits: Tensor) -> dict[str, float]:
    """What D says on average: mean D(x) and D(G(z)) as probabilities for the BCE losses
    (``d_real``, ``d_fake``), else the mean raw outputs (``real_score``, ``fake_score``)."""
    if loss in ("bce", "nsgan"):
        return {
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }
    return {"real_score": real_logits.mean().item(), "fake_score": fake_logits.mean().item()}


def label_targets(
    config: Any, n_real: int, n_fake: int, g: torch.Generator, device: torch.device
) -> tuple[Tensor | None, Tensor | None]:
    """Per-sample BCE/LSGAN targets with the gan family's smoothing and flipping (``config``:
    its ``label_smoothing``, ``label_flip`` and label ranges); None, None: plain 1 and 0."""
    if not (config.label_smoothing or config.label_flip > 0):
        return None, None

    def labels(n: int, value: float, span: tuple[float, float]) -> Tensor:
        if not config.label_smoothing:
            return torch.full((n,), value, device=device)
        u = torch.rand(n, generator=g, device=g.device).to(device)
        return span[0] + (span[1] - span[0]) * u

    real_t = labels(n_real, 1.0, config.real_label_range)
    fake_t = labels(n_fake, 0.0, config.fake_label_range)
    if config.label_flip > 0:
        flip_r = torch.rand(n_real, generator=g, device=g.device).to(device)
        flip_f = torch.rand(n_fake, generator=g, device=g.device).to(device)
        other_r = labels(n_real, 0.0, config.fake_label_range)
        other_f = labels(n_fake, 1.0, config.real_label_range)
        real_t = torch.where(flip_r < config.label_flip, other_r, real_t)
        fake_t = torch.where(flip_f < config.label_flip, other_f, fake_t)
    return real_t, fake_t
