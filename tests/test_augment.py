"""Training augmentations: each keeps patches valid images and does what its name says."""

from __future__ import annotations

import pytest
import torch

from pathview.model import dihedral_view
from pathview.training.augment import (
    AugmentConfig,
    Augmenter,
    colour_jitter,
    random_dihedral,
    random_shift,
    stain_jitter,
)


def _patches(n: int = 6, side: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, side, side, generator=gen) * 0.9 + 0.05


def test_random_dihedral_gives_each_patch_one_of_its_8_views() -> None:
    x = _patches(n=32)
    out = random_dihedral(x, torch.Generator().manual_seed(1))
    seen = set()
    for i in range(len(x)):
        matches = [k for k in range(8) if torch.equal(out[i], dihedral_view(x[i : i + 1], k)[0])]
        assert matches, f"patch {i} is not a flip/rotation of its input"
        seen.add(matches[0])
    assert len(seen) > 1  # views are drawn per patch, not once per batch


def test_random_shift_translates_by_whole_pixels_within_the_limit() -> None:
    x = _patches(n=16, side=20)
    out = random_shift(x, 3, torch.Generator().manual_seed(2))
    assert out.shape == x.shape
    shifts = set()
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(-3, 4)
            for dx in range(-3, 4)
            # interior of the output equals the input moved by (dy, dx)
            if torch.equal(out[i, :, 3:-3, 3:-3], x[i, :, 3 + dy : 17 + dy, 3 + dx : 17 + dx])
        ]
        assert len(found) == 1, f"patch {i}: not a single whole-pixel translation"
        shifts.add(found[0])
    assert len(shifts) > 1


def test_random_shift_mirrors_at_the_edges() -> None:
    # Every output pixel is an input pixel of the same patch (no blank or wrapped border).
    x = _patches(n=4, side=12)
    out = random_shift(x, 4, torch.Generator().manual_seed(3))
    for i in range(len(x)):
        pixels_in = {tuple(p) for p in x[i].reshape(3, -1).T.tolist()}
        pixels_out = {tuple(p) for p in out[i].reshape(3, -1).T.tolist()}
        assert pixels_out <= pixels_in


def test_random_shift_zero_is_identity_and_too_large_is_refused() -> None:
    x = _patches()
    assert random_shift(x, 0) is x
    with pytest.raises(ValueError, match="smaller than the patch"):
        random_shift(x, 16)


@pytest.mark.slow
def test_stain_jitter_with_zero_sigma_keeps_the_patch() -> None:
    x = _patches()
    torch.testing.assert_close(stain_jitter(x, 0.0), x, atol=1e-5, rtol=0)


def test_stain_jitter_changes_colour_mildly_and_stays_in_range() -> None:
    x = _patches(n=64)
    out = stain_jitter(x, 0.08, torch.Generator().manual_seed(4))
    assert out.min() >= 0 and out.max() <= 1
    diff = (out - x).abs().mean(dim=(1, 2, 3))
    assert (diff > 1e-3).all()  # every patch changes
    assert diff.max() < 0.15  # but stays the same tissue


def test_colour_jitter_off_is_identity_and_keeps_grey_grey() -> None:
    x = _patches()
    off = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0)
    torch.testing.assert_close(colour_jitter(x, off), x, atol=1e-5, rtol=0)
    grey = torch.rand(8, 1, 10, 10).expand(8, 3, 10, 10) * 0.8 + 0.1
    hue_sat = AugmentConfig(brightness=0, contrast=0, saturation=0.3, hue=0.2)
    out = colour_jitter(grey.contiguous(), hue_sat, torch.Generator().manual_seed(5))
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 1], out[:, 2], atol=1e-5, rtol=0)


def test_augmenter_is_reproducible_with_a_seeded_generator() -> None:
    x = _patches(n=8, side=24)
    aug = Augmenter(AugmentConfig(shift=4, stain_sigma=0.05))
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a, aug(x, torch.Generator().manual_seed(8)))
