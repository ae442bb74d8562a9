"""The drag self-check: the content under a handle is looked for at its target, so a drag that
erased the feature is reported as not moved, whatever the tracked point says."""

from __future__ import annotations

import torch

from huashi.gan.drag_check import check_drag


def _features() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(1, 8, 24, 24)


def test_content_shifted_to_the_target_counts_as_moved():
    start = _features()
    final = torch.roll(start, shifts=4, dims=3)  # everything moved 4 px right
    (check,) = check_drag(start, final, [(8.0, 12.0)], [(12.0, 12.0)])
    assert check.moved and check.mismatch < 0.05
    assert "the content moved" in check.describe()


def test_erased_content_does_not_count_as_moved():
    start = _features()
    final = start.clone()
    final[..., 8:18, 6:18] = 0.0  # the handle's feature erased, the target region flattened
    (check,) = check_drag(start, final, [(8.0, 12.0)], [(12.0, 12.0)])
    assert not check.moved and check.mismatch > 0.5
    assert "did NOT move there" in check.describe()


def test_a_held_handle_stays_or_is_reported():
    start = _features()
    stays, gone = check_drag(start, start, [(5.0, 5.0)], [(5.0, 5.0)])[0], None
    final = start.clone()
    final[..., 2:9, 2:9] = torch.randn(1, 8, 7, 7)
    gone = check_drag(start, final, [(5.0, 5.0)], [(5.0, 5.0)])[0]
    assert stays.moved and "stayed in place" in stays.describe()
    assert not gone.moved and "did NOT stay" in gone.describe()


def test_a_drag_on_a_model_reports_its_checks():
    from huashi.families import DataInfo
    from huashi.families.stylegan import StyleGAN, StyleGANConfig
    from huashi.gan.drag import drag

    torch.manual_seed(0)
    config = StyleGANConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
    sg = StyleGAN(config, DataInfo(3, 16), torch.device("cpu"))
    ws = sg.broadcast(sg.map_latents(sg.latents_for_seeds([3])))
    result = drag(sg, ws, [(5.0, 8.0), (2.0, 2.0)], [(8.0, 8.0), (2.0, 2.0)], steps=3)
    assert [c.handle for c in result.checks] == [(5.0, 8.0), (2.0, 2.0)]
    assert all(c.mismatch >= 0 for c in result.checks)


def test_content_that_moved_only_part_of_the_way_is_not_moved_even_if_the_target_looks_alike():
    """Smooth features can match at the target while the content sits elsewhere: here the
    handle's exact patch is 1 px from its start and a faded copy at the 3-px target matches at
    0.3 of the baseline; the check finds the exact one and says the content did not get there."""
    start = torch.zeros(1, 8, 24, 24)
    pattern = torch.randn(1, 8, 5, 5, generator=torch.Generator().manual_seed(1))
    start[..., 10:15, 6:11] = pattern  # content around (8, 12)
    final = torch.zeros_like(start)
    final[..., 10:15, 13:18] = 0.7 * pattern  # a faded copy at the target (15, 12)
    final[..., 10:15, 7:12] = pattern  # the content itself, 1 px right of its start
    (check,) = check_drag(start, final, [(8.0, 12.0)], [(15.0, 12.0)])
    assert check.mismatch <= 0.5  # the target alone would have passed
    assert check.found == (9.0, 12.0) and not check.moved
    assert "matches best at (9, 12)" in check.describe()
    (exact,) = check_drag(start, final, [(8.0, 12.0)], [(9.0, 12.0)])
    assert exact.moved and exact.found == (9.0, 12.0)
