"""Odd files and odd file-system entries: every one becomes an item whose load says why, nothing is
dropped silently, nothing escapes as another exception, a FIFO is never opened, and photos are upright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from sslcli.domains import BadItemError, Domain, Item

from sslcli.registry import DOMAINS
from tests.domains.audio.audio_files import tone
from tests.domains.audiovisual.av_files import write_switching_clip
from tests.domains.video.video_files import write_counting_video
from tests.odd_entries import FifoWatch, bomb_png


@pytest.fixture
def fifo(tmp_path):
    watches: list[FifoWatch] = []

    def make(path: Path) -> FifoWatch:
        watches.append(FifoWatch(path))
        return watches[-1]

    yield make
    for watch in watches:
        watch.close()


@pytest.fixture
def natural():
    return DOMAINS["natural"]()


def reasons(domain, root: Path) -> dict[str, str | None]:
    """rel path -> why its load failed (None: loaded)."""
    found: dict[str, str | None] = {}
    for item in domain.discover(root):
        try:
            domain.load(item)
            found[item.path.relative_to(root).as_posix()] = None
        except BadItemError as err:
            found[item.path.relative_to(root).as_posix()] = str(err)
    return found


def test_odd_entries_named_like_images_become_items_that_say_why(natural, tmp_path, fifo):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "good.png")
    os.symlink("b.png", tmp_path / "a.png")  # a.png -> b.png -> a.png
    os.symlink("a.png", tmp_path / "b.png")
    os.symlink("self.jpg", tmp_path / "self.jpg")
    os.symlink("missing.png", tmp_path / "dangling.png")
    os.symlink("good.png", tmp_path / "alias.png")  # a working link is an ordinary image
    (tmp_path / "x.png").mkdir()  # a folder named like an image; its contents are still found
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.png" / "inner.png")
    os.symlink("x.png", tmp_path / "linked.png")  # a link to that folder: listed, not entered
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub" / "up.png")  # a link cycle of folders: following it never ends
    watch = fifo(tmp_path / "pipe.png")
    (tmp_path / "notes.txt").write_text("not named like an image\n")
    assert reasons(natural, tmp_path) == {
        "a.png": "symbolic link loop",
        "alias.png": None,
        "b.png": "symbolic link loop",
        "dangling.png": "dangling symbolic link",
        "good.png": None,
        "linked.png": "a directory, not an image file",
        "pipe.png": "not a regular file (FIFO, socket or device)",
        "self.jpg": "symbolic link loop",
        "sub/up.png": "a directory, not an image file",
        "x.png": "a directory, not an image file",
        "x.png/inner.png": None,
    }
    assert not watch.close(), "the FIFO was opened"


def test_decompression_bomb_is_a_bad_item(natural, tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    with pytest.raises(Image.DecompressionBombError):  # the fixture really is one, by Pillow's own rule
        Image.open(path)
    assert reasons(natural, tmp_path)["bomb.png"].startswith("image too large, possible decompression bomb")


def test_any_decoder_exception_is_a_bad_item_with_a_one_line_reason(natural, tmp_path, monkeypatch):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "ok.png")

    def broken_decoder(self):
        raise RuntimeError("decoder state lost\nsecond line of detail")

    monkeypatch.setattr(Image.Image, "load", broken_decoder)
    (item,) = natural.discover(tmp_path)
    with pytest.raises(BadItemError) as caught:
        natural.load(item)["image"]
    assert str(caught.value) == "cannot decode image (RuntimeError: decoder state lost)"


# EXIF Orientation (TIFF 6.0 / EXIF 2.3 tag 0x0112) -> numpy quarter turns that make the photo upright:
# 3 = rotate 180, 6 = rotate 90 clockwise, 8 = rotate 90 counter-clockwise.
ORIENTATIONS = {3: 2, 6: -1, 8: 1}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_photos_are_turned_upright_by_their_exif_orientation(natural, tmp_path, orientation):
    source = np.zeros((32, 48, 3), np.uint8)  # (H, W, 3): four flat blocks, no symmetry
    source[:16, :24] = (250, 20, 20)
    source[:16, 24:] = (20, 250, 20)
    source[16:, :24] = (20, 20, 250)
    source[16:, 24:] = (240, 240, 240)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    Image.fromarray(source).save(path, quality=95, exif=exif)
    with Image.open(path) as raw:  # the stored pixels, as the camera wrote them
        stored = np.asarray(raw.convert("RGB"))
    tensor = natural.load(natural.discover(tmp_path)[0])["image"]
    expected = np.rot90(stored, ORIENTATIONS[orientation]).copy()
    assert tensor.shape == (3, *expected.shape[:2])
    assert torch.equal(tensor, torch.from_numpy(expected).permute(2, 0, 1).float() / 255)
    upright_source = torch.from_numpy(np.rot90(source, ORIENTATIONS[orientation]).copy()).float() / 255
    assert (tensor - upright_source.permute(2, 0, 1)).abs().mean() < 0.03  # JPEG tolerance


@pytest.fixture
def medical():
    return DOMAINS["medical"]()


def test_medical_reports_fifos_and_broken_links_without_opening_them(
    medical, tmp_path, dicom_test_files, fifo
):
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(dicom_test_files / name, tmp_path / name)
    (tmp_path / "series").mkdir()  # folders are not candidates in the medical domain
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "series" / "copy")
    watch = fifo(tmp_path / "pipe")
    os.symlink("gone.dcm", tmp_path / "dangling")
    os.symlink("loop", tmp_path / "loop")
    items = medical.discover(tmp_path)
    found = reasons(medical, tmp_path)
    assert len(items) == len(found) == 6  # every entry but the folder is counted
    assert found == {
        "CT_small.dcm": None,
        "MR_small.dcm": None,
        "series/copy": None,
        "pipe": "not a regular file (FIFO, socket or device)",
        "dangling": "dangling symbolic link",
        "loop": "symbolic link loop",
    }
    for item in items:  # named by the salted id only; no path in any reason
        assert str(tmp_path) not in (item.problem or "") and item.rel_path == item.item_id
    assert not watch.close(), "the FIFO was opened"


def test_a_foreign_exception_never_carries_a_private_path_into_the_skip_reason(dicom_test_files, monkeypatch):
    from sslcli.data.datasets import ScanDataset

    domain = DOMAINS["medical"]()
    items = domain.discover(dicom_test_files)[:1]

    def failing_load(item):
        raise RuntimeError(f"decoder crashed on {item.path}")

    monkeypatch.setattr(domain, "load", failing_load)
    record = ScanDataset(domain, items)[0]
    assert record.reason == "RuntimeError while decoding"
    assert str(dicom_test_files) not in record.reason + record.where


def write_tone(path: Path) -> None:
    soundfile.write(path, tone(440.0, 0.5, 16_000), 16_000)


# domain -> (suffix, writer of one good file, the reason of a folder named like a file)
TIME_DOMAINS = {
    "audio": ("wav", write_tone, "a directory, not an audio file"),
    "video": ("mp4", lambda path: write_counting_video(path, frames=12), "a directory, not a video file"),
    "audiovisual": ("mp4", write_switching_clip, "a directory, not a video file"),
}


@pytest.mark.parametrize("name", sorted(TIME_DOMAINS))
def test_recordings_and_videos_report_fifos_and_broken_links_without_opening_them(name, tmp_path, fifo):
    suffix, write_good, folder_reason = TIME_DOMAINS[name]
    write_good(tmp_path / f"good.{suffix}")
    watch = fifo(tmp_path / f"pipe.{suffix}")
    os.symlink(f"gone.{suffix}", tmp_path / f"dangling.{suffix}")
    os.symlink(f"loop.{suffix}", tmp_path / f"loop.{suffix}")
    (tmp_path / f"folder.{suffix}").mkdir()
    found = reasons(DOMAINS[name](), tmp_path)
    assert not watch.close(), "the FIFO was opened"
    assert found == {
        f"dangling.{suffix}": "dangling symbolic link",
        f"folder.{suffix}": folder_reason,
        f"good.{suffix}": None,
        f"loop.{suffix}": "symbolic link loop",
        f"pipe.{suffix}": "not a regular file (FIFO, socket or device)",
    }


def test_a_domain_that_finds_its_own_files_still_never_opens_a_fifo(tmp_path, fifo):
    class Listing(Domain):  # a plug-in that lists files itself and reads whatever it is given
        name, description, default_input_size, default_backbone = "listing", "test", 8, "resnet10"

        def inputs(self, input_size):
            return {}

        def discover(self, root):
            return [Item(p.name, p, p.name) for p in sorted(root.iterdir())]

        def load(self, item):
            return {"bytes": torch.tensor(list(item.path.read_bytes()))}

    watch = fifo(tmp_path / "pipe.bin")
    (tmp_path / "data.bin").write_bytes(b"\x01\x02")
    found = reasons(Listing(), tmp_path)
    assert not watch.close(), "the FIFO was opened"
    assert found == {"data.bin": None, "pipe.bin": "not a regular file (FIFO, socket or device)"}
