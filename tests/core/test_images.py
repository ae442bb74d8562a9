"""The one image reader (huashi.core.images.read_image): EXIF, modes, the resize rule shared by every
caller, and the pixel limit checked from the header before decoding."""

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from huashi.core import images
from huashi.core.errors import HuashiError
from huashi.core.images import read_image


def pixels(path, channels=None, resolution=None):
    return read_image(path, channels, resolution).pixels.permute(1, 2, 0).numpy()


def luma(r: int, g: int, b: int) -> int:
    """ITU-R 601-2 luma in Pillow's 16-bit fixed point, rounded."""
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16


def test_an_exif_rotated_jpeg_comes_out_upright(tmp_path):
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: the viewer turns the stored picture 90 degrees clockwise
    stored.save(tmp_path / "photo.jpg", quality=95, exif=exif.tobytes())
    image = read_image(tmp_path / "photo.jpg")
    assert image.size == (20, 40)
    upright = image.pixels.permute(1, 2, 0).numpy().astype(int)
    # Turned clockwise, the stored left edge is the top: red above, blue below.
    assert np.abs(upright[:18] - [255, 0, 0]).max() < 12
    assert np.abs(upright[22:] - [0, 0, 255]).max() < 12


def save(tmp_path: Path, image: Image.Image, name: str) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def test_each_mode_converts_to_the_asked_channels_with_the_documented_values(tmp_path):
    rgb = save(tmp_path, Image.new("RGB", (2, 2), (200, 100, 50)), "rgb.png")
    assert (pixels(rgb, 3) == [200, 100, 50]).all()
    assert (pixels(rgb, 1) == luma(200, 100, 50)).all()
    assert read_image(rgb).mode == "RGB"

    gray = save(tmp_path, Image.new("L", (2, 2), 100), "gray.png")
    assert (pixels(gray, 1) == 100).all() and (pixels(gray, 3) == [100, 100, 100]).all()
    assert read_image(gray).pixels.shape == (1, 2, 2)  # channels=None keeps grayscale gray

    # RGBA on white: alpha 0 -> white, 255 -> the colour, 51 (20 %) -> 80 % white.
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(200, 100, 50, 0), (200, 100, 50, 255), (0, 0, 0, 51)])
    got = pixels(save(tmp_path, rgba, "rgba.png"), 3).astype(int)
    assert got[0].tolist() == [[255, 255, 255], [200, 100, 50], [204, 204, 204]]
    assert read_image(tmp_path / "rgba.png").file_mode == "RGBA"

    la = Image.new("LA", (2, 1))
    la.putdata([(0, 0), (0, 255)])
    path = save(tmp_path, la, "la.png")
    assert read_image(path).mode == "L" and pixels(path)[0, :, 0].tolist() == [255, 0]

    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putdata([0, 1])
    assert pixels(save(tmp_path, palette, "p.png"), 3)[0].tolist() == [[10, 20, 30], [200, 100, 50]]
    palette.info["transparency"] = 0  # index 0 transparent -> white
    path = tmp_path / "p-transparent.png"
    palette.save(path, transparency=0)
    assert pixels(path, 3)[0].tolist() == [[255, 255, 255], [200, 100, 50]]

    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0)])  # white, full cyan (Pillow's naive conversion)
    path = tmp_path / "cmyk.jpg"
    cmyk.save(path, quality=100)
    got = pixels(path, 3).astype(int)
    assert np.abs(got[0] - [[255, 255, 255], [0, 255, 255]]).max() < 25  # JPEG on 2 pixels

    sixteen = Image.fromarray(np.array([[0, 25700, 65535]], dtype=np.uint16))
    path = save(tmp_path, sixteen, "16bit.png")
    assert pixels(path, 1)[0, :, 0].tolist() == [0, 100, 255]  # scaled by 1/257
    assert read_image(path).mode == "L"

    bilevel = Image.new("1", (2, 1))
    bilevel.putdata([0, 1])
    assert pixels(save(tmp_path, bilevel, "1.png"), 1)[0, :, 0].tolist() == [0, 255]


def test_the_resize_rule_is_centre_crop_then_lanczos_or_stretch(tmp_path):
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    path = save(tmp_path, source, "wide.png")
    cropped = np.asarray(source.crop((8, 0, 32, 24)).resize((16, 16), Image.Resampling.LANCZOS))
    assert np.array_equal(pixels(path, 3, 16), cropped)
    stretched = np.asarray(source.resize((16, 16), Image.Resampling.LANCZOS))
    assert np.array_equal(read_image(path, 3, 16, fit="stretch").pixels.permute(1, 2, 0), stretched)
    with pytest.raises(HuashiError, match="unknown fit 'pad'"):
        read_image(path, 3, 16, fit="pad")


def test_every_caller_reads_files_through_the_one_reader(tmp_path):
    """Data folders, img2img, translate, interpolate and the clip command give the same pixels
    for the same file as read_image: one EXIF, mode and resize rule for all (api.clip_labels
    reads through translate.load_image)."""
    from huashi.core.images import read_image_tensor as interpolate_read
    from huashi.data.folder import load_folder
    from huashi.diffusion.inputs import load_init
    from huashi.tools.translate import load_image

    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (24, 40, 4), dtype=np.uint8)
    folder = tmp_path / "folder"
    folder.mkdir()
    path = save(folder, Image.fromarray(rgba, "RGBA"), "a.png")
    for channels in (1, 3):
        want = read_image(path, channels, 16).unit_range()
        assert torch.equal(load_init(path, channels, 16)[0], want)
        assert torch.equal(load_image(path, 16, channels)[0], want)
        assert torch.equal(interpolate_read(path, channels, 16)[0], want)
    assert torch.equal(load_folder(folder, resolution=16).images[0], read_image(path, 3, 16).pixels)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGBA pixels and holds one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\0" * (4 * width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_huge_declared_png_is_refused_before_decoding_with_its_name_and_the_limit(
    tmp_path, monkeypatch
):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(13000, 13000))  # 4.5 GB as RGBA, a few KB on disk
    assert bomb.stat().st_size < 100_000

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(HuashiError) as error:
        read_image(bomb, 3, 64)
    message = str(error.value)
    assert "bomb.png" in message and "13000x13000" in message
    assert f"{images.MAX_PIXELS:,}" in message and "HUASHI_MAX_IMAGE_PIXELS" in message
    # Beyond Pillow's own bomb limit the error is just as clear.
    (tmp_path / "bigger.png").write_bytes(png_header(30000, 30000))
    with pytest.raises(HuashiError, match="bigger.png.*decompression bomb.*HUASHI_MAX"):
        read_image(tmp_path / "bigger.png")


def test_the_limit_is_a_module_constant_read_at_call_time_with_an_env_override(
    tmp_path, monkeypatch
):
    assert images.pixel_limit(os.environ) == images.MAX_PIXELS  # read once, at import
    path = save(tmp_path, Image.new("RGB", (20, 10)), "small.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 199)
    with pytest.raises(HuashiError, match="small.png is 20x10 = 200 pixels.*limit of 199"):
        read_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 200)
    assert read_image(path).size == (20, 10)
    assert images.pixel_limit({"HUASHI_MAX_IMAGE_PIXELS": "1234"}) == 1234
    assert images.pixel_limit({}) == 8192 * 8192
    with pytest.warns(UserWarning, match="not a positive whole number"):
        assert images.pixel_limit({"HUASHI_MAX_IMAGE_PIXELS": "lots"}) == 8192 * 8192


def test_unreadable_files_give_one_clear_error(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(HuashiError, match="cannot read the image .*text.png"):
        read_image(tmp_path / "text.png")
    with pytest.raises(HuashiError, match="missing.png does not exist"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(HuashiError, match="is a folder"):
        read_image(tmp_path)
    with pytest.raises(HuashiError, match="channels must be 1"):
        read_image(tmp_path / "text.png", channels=2)


def test_a_folder_skips_a_bomb_and_says_why(tmp_path):
    from huashi.data.folder import load_folder

    save(tmp_path, Image.new("RGB", (8, 8), (10, 20, 30)), "good.png")
    (tmp_path / "bomb.png").write_bytes(png_header(13000, 13000))
    with pytest.warns(UserWarning, match="skipped 1 .*bomb.png.*HUASHI_MAX_IMAGE_PIXELS"):
        data = load_folder(tmp_path, resolution=8)
    assert len(data.images) == 1 and data.info["skipped"] == 1
