"""The EMA warm-up and the BatchNorm statistics of EMA generators."""

import torch
from torch import nn

from huashi.families import DataInfo
from huashi.families.base import calibration_latents
from huashi.families.dcgan import DCGAN, DCGANFamilyConfig
from huashi.families.gan import GAN, GANConfig
from huashi.families.pix2pix import Pix2Pix, Pix2PixFamilyConfig
from huashi.training.ema import EMA, recalibrate_batchnorm, warmup_decay

CPU = torch.device("cpu")


def test_warmup_lowers_the_decay_early_and_reaches_the_set_decay():
    assert warmup_decay(0.999, 0) == 0.1
    assert warmup_decay(0.999, 90) == 0.91
    assert warmup_decay(0.999, 10**6) == 0.999
    live = nn.Linear(2, 2)
    ema = EMA(live, decay=0.999)
    start = ema.module.weight.detach().clone()
    with torch.no_grad():
        live.weight.add_(1.0)
    ema.update(live, step=0)  # decay 0.1: the young average follows the live weights closely
    torch.testing.assert_close(ema.module.weight, 0.1 * start + 0.9 * live.weight.detach())


def test_recalibrated_statistics_are_the_average_over_the_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5)).eval()
    norm = net[1]
    norm.running_mean.fill_(7.0)  # stale statistics of other weights
    batches = [(torch.randn(16, 3),), (torch.randn(16, 3),)]
    recalibrate_batchnorm(net, batches)
    with torch.no_grad():
        hidden = [net[0](x) for (x,) in batches]
    expected_mean = torch.stack([h.mean(0) for h in hidden]).mean(0)
    expected_var = torch.stack([h.var(0, unbiased=True) for h in hidden]).mean(0)
    torch.testing.assert_close(norm.running_mean, expected_mean)
    torch.testing.assert_close(norm.running_var, expected_var)
    assert norm.momentum == 0.1 and not net.training and not net[3].training  # flags put back


def _ema_statistics_fit_the_ema_weights(family, generator_inputs):
    """The EMA generator's running statistics equal its own batch statistics on the
    calibration inputs, not the live generator's."""
    G = family.sampling_module("generator")
    norm = next(m for m in G.modules() if isinstance(m, nn.BatchNorm2d))
    live_norm = next(
        m for m in family.modules["generator"].modules() if isinstance(m, nn.BatchNorm2d)
    )
    seen = []
    hook = norm.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    copy = [b.clone() for b in norm.buffers()]
    G.train()
    with torch.no_grad():
        for args in generator_inputs:
            G(*args)
    G.eval()
    hook.remove()
    for b, saved in zip(norm.buffers(), copy, strict=True):
        b.copy_(saved)
    mean = torch.stack([x.mean((0, 2, 3)) for x in seen]).mean(0)
    torch.testing.assert_close(norm.running_mean, mean, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(norm.running_mean, live_norm.running_mean, atol=1e-3)


def _train(family, steps, inputs=None):
    family.enable_ema(0.9)
    opt = torch.optim.SGD(family.modules["generator"].parameters(), lr=0.5)
    for step in range(steps):
        if inputs is not None:
            args = (inputs,)
        else:
            z = family.latents_for_seeds(list(range(8)))
            args = (z,) if isinstance(family, DCGAN) else (z, None)
        family.modules["generator"].train()
        family.modules["generator"](*args).square().mean().backward()
        opt.step()
        opt.zero_grad()
        family.update_ema(step)


def test_dcgan_ema_generator_gets_statistics_of_its_own_weights():
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    _train(family, 5)
    assert family.ema_stale
    inputs = [(z,) for z in calibration_latents(family.latents_for_seeds)]
    _ema_statistics_fit_the_ema_weights(family, inputs)
    assert not family.ema_stale


def test_gan_ema_statistics_survive_a_save_and_load():
    torch.manual_seed(0)
    family = GAN(GANConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    _train(family, 5)
    images = family.generate(list(range(4)))
    tensors, meta = family.state_tensors()
    again = GAN(GANConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    again.load_state_tensors(tensors, meta, weights_only=True)
    assert torch.equal(again.generate(list(range(4))), images)
    inputs = [(z, None) for z in calibration_latents(family.latents_for_seeds)]
    _ema_statistics_fit_the_ema_weights(again, inputs)


def test_pix2pix_ema_unet_gets_statistics_of_its_own_weights_on_training_inputs():
    torch.manual_seed(0)
    family = Pix2Pix(
        Pix2PixFamilyConfig(g_width=4, d_width=4, dropout=0.0),
        DataInfo(1, 16, has_targets=True, target_channels=1),
        CPU,
    )

    class Pairs:
        images = torch.rand(100, 1, 16, 16) * 2 - 1
        targets = -images

        def __len__(self):
            return len(self.images)

        def batch(self, indices):
            return {"image": self.images[indices], "target": self.targets[indices]}

    family.use_dataset(Pairs())
    _train(family, 5, inputs=Pairs.images[:8])
    assert family.ema_stale
    inputs = [(x,) for x in family.calibration_inputs.split(64)]
    assert len(family.calibration_inputs) == 100  # every input of a set this small
    _ema_statistics_fit_the_ema_weights(family, inputs)
    assert not family.ema_stale
