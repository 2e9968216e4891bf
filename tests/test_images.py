"""Image reader (formats, EXIF, modes, limits, bad files), EfficientNet-Lite0 and the image -> text bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _media import CHINA, FLOWER, png_bomb, text_named_png, truncated_jpeg
from PIL import Image

from jointspace.encoders import encoder
from jointspace.errors import ItemError
from jointspace.readers.images import load_image


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(CHINA).convert("RGB")


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("WEBP", ".webp"), ("GIF", ".gif"), ("BMP", ".bmp"),
                                        ("TIFF", ".tif"), ("JPEG", ".jpg")])
def test_reads_every_format(tmp_path: Path, photo: Image.Image, fmt: str, suffix: str) -> None:
    path = tmp_path / f"china{suffix}"
    photo.save(path, format=fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == photo.size
    # the pixels are the photo's, not a blank: close to the original on average (GIF is palette-reduced)
    diff = np.abs(np.asarray(image, np.float32) - np.asarray(photo, np.float32)).mean()
    assert diff < 20


def test_gif_first_frame(tmp_path: Path, photo: Image.Image) -> None:
    small = photo.resize((64, 48))
    frames = [small, Image.new("RGB", small.size, (255, 0, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = load_image(path)
    assert np.asarray(image)[..., 0].mean() < 200  # the photo frame, not the all-red second frame


def test_exif_orientation_applied(tmp_path: Path, photo: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    photo.save(path, exif=exif.tobytes())
    assert Image.open(path).size == photo.size
    assert load_image(path).size == (photo.height, photo.width)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_modes_become_rgb(tmp_path: Path, photo: Image.Image, mode: str) -> None:
    converted = photo.convert("L").convert(mode) if mode == "I;16" else photo.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    path = tmp_path / f"m.{fmt.lower()}"
    converted.save(path, format=fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == photo.size
    assert np.asarray(image).std() > 10  # not flattened to one colour


def test_transparency_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    path = tmp_path / "clear.png"
    rgba.save(path)
    assert np.asarray(load_image(path)).min() == 255


def test_truncated_jpeg_names_the_file(tmp_path: Path) -> None:
    path = truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(ItemError, match="cut.jpg.*(truncated|damaged)"):
        load_image(path)


def test_text_file_named_png(tmp_path: Path) -> None:
    path = text_named_png(tmp_path / "list.png")
    with pytest.raises(ItemError, match=r"list.png: not an image although named \.png: content is text"):
        load_image(path)


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    path = png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ItemError, match="bomb.png.*(30000x30000|decompression bomb)"):
        load_image(path)
    # our own limit, below Pillow's: a 9000x9000 header is refused before decoding
    big = png_bomb(tmp_path / "big.png", side=9000)
    with pytest.raises(ItemError, match="9000x9000 pixels is over the limit"):
        load_image(big)


def test_empty_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ItemError, match="empty.jpg: empty file"):
        load_image(empty)
    with pytest.raises(ItemError, match="nope.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")


def test_efficientnet_features_and_classes(tmp_path: Path) -> None:
    enc = encoder("efficientnet")
    vectors = enc.encode([FLOWER, CHINA, FLOWER.read_bytes()])
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[2] > 0.999  # path and bytes of one file agree
    assert vectors[0] @ vectors[1] < 0.8
    top = enc.predict([FLOWER, CHINA], top=5)
    assert "daisy" in [name for name, _ in top[0]]
    assert {"palace", "monastery", "bell cote", "church", "pagoda"} & {name for name, _ in top[1]}
    proba = enc.predict_proba([FLOWER])
    assert proba.shape == (1, 1000) and abs(proba.sum() - 1) < 1e-4


def test_efficientnet_bad_item_has_position(tmp_path: Path) -> None:
    bad = truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(ItemError) as info:
        encoder("efficientnet").encode([FLOWER, bad, CHINA])
    assert info.value.position == 1 and "cut.jpg" in str(info.value)


def test_image_text_bridge_lands_in_text_space() -> None:
    bridge = encoder("image-text")
    images = bridge.encode([FLOWER, CHINA])
    texts = bridge.encode_text(["a photo of a flower", "a photo of a palace or temple"])
    assert images.shape == (2, 384) and bridge.dim == 384
    sims = images @ texts.T
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]
    vectors, details = bridge.encode_with_details([FLOWER])
    assert "daisy" in details[0]["labels"] and np.allclose(vectors, images[:1], atol=1e-5)


def test_fashion_mnist_zero_shot_beats_chance() -> None:
    from jointspace.evaluate.zero_shot import fashion_mnist

    metrics = fashion_mnist(n=100)
    assert metrics["images"] == 100
    assert metrics["top1_accuracy"] > 0.2  # 10 classes: chance is ~0.1; measured ~0.38 on 10,000
    assert 0 <= metrics["precision@10"] <= 1
