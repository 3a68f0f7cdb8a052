"""Folders of frame images as videos: found next to video files, cut into segments like them,
sampled at the same times as a decoded file (checked against the frame indices painted into them),
and a corrupt frame makes the video a bad item naming that frame."""

from __future__ import annotations

import math

import pytest
from sslcli.domains.discovery import BadItemError

from sslcli.registry import DOMAINS
from tests.domains.video.video_files import frame_indices, write_counting_frames, write_counting_video


def video_domain(**settings):
    return DOMAINS["video"].configured(settings)


def test_frame_folders_are_videos_sampled_like_decoded_files(tmp_path):
    write_counting_frames(tmp_path / "walk" / "frames_a", frames=40)  # 1.6 s at 25 frames/s
    write_counting_video(tmp_path / "walk" / "file.mp4", frames=40)
    domain = video_domain(segment_s=0.5, stride=3)
    items = domain.discover(tmp_path)
    folder_items = [item for item in items if item.rel_path == "walk/frames_a"]
    file_items = [item for item in items if item.rel_path == "walk/file.mp4"]
    assert [item.span() for item in folder_items] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.6)]
    assert [item.span() for item in folder_items] == [item.span() for item in file_items]
    for from_folder, from_file in zip(folder_items, file_items, strict=True):
        start, end = from_folder.span()
        times = [start + k * 3 / 25 for k in range(math.ceil((end - start) / (3 / 25) - 1e-9))]
        expected = [math.ceil(t * 25 - 1e-6) for t in times]
        assert frame_indices(domain.load(from_folder)["video"]) == expected
        assert frame_indices(domain.load(from_file)["video"]) == expected
    assert domain.load(folder_items[0])["video"].shape[2:] == (128, 192)  # short side 128


def test_the_frame_rate_of_folders_is_an_option(tmp_path):
    write_counting_frames(tmp_path / "clip", frames=20)
    domain = video_domain(frame_rate=10.0, stride=1)
    (item,) = domain.discover(tmp_path)
    assert frame_indices(domain.load(item)["video"]) == list(range(20))  # 2 s at 10 frames/s, every frame
    assert video_domain(frame_rate=10.0, segment_s=0.5).discover(tmp_path)[-1].span() == (1.5, 2.0)


def test_a_corrupt_frame_makes_its_video_a_bad_item_naming_the_frame(tmp_path):
    folder = write_counting_frames(tmp_path / "clip", frames=10)
    (folder / "frame_004.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    domain = video_domain(stride=1)
    (item,) = domain.discover(tmp_path)
    with pytest.raises(BadItemError, match="cannot decode frame frame_004.png") as err:
        domain.load(item)
    assert "\n" not in str(err.value)


def test_frames_of_different_shapes_make_a_bad_item(tmp_path):
    folder = write_counting_frames(tmp_path / "clip", frames=6)
    write_counting_frames(tmp_path / "other", frames=1, size=(32, 48))  # portrait
    (tmp_path / "other" / "frame_000.png").rename(folder / "frame_003.png")
    domain = video_domain(stride=1)
    item = next(item for item in domain.discover(tmp_path) if item.rel_path == "clip")
    with pytest.raises(BadItemError, match="frame images of different sizes"):
        domain.load(item)
