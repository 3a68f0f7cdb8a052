"""Reading video by time with PyAV: which frames a stretch returns (checked against frame indices
painted into the frames), the scaled size, the header probe, and one-line reasons for bad files."""

from __future__ import annotations

import math

import av
import pytest
from sslcli.domains.discovery import BadItemError
from sslcli.domains.video.reading import probe, read_frames

from tests.domains.video.video_files import LEVEL_STEP, frame_indices, write_counting_video


@pytest.fixture(scope="module")
def counting(tmp_path_factory):
    return write_counting_video(tmp_path_factory.mktemp("video") / "count.mp4")  # 40 frames at 25 fps


def test_a_whole_read_returns_every_frame_in_order_scaled_to_the_short_side(counting):
    frames = read_frames(counting, 0.0, None, 1 / 25, 32)
    assert frames.shape == (40, 3, 32, 43)  # 64 x 48 scaled by 2/3
    assert frame_indices(frames) == list(range(40))


@pytest.mark.parametrize(
    ("start", "end", "step"), [(0.8, 1.2, 2 / 25), (0.44, 1.0, 3 / 25), (1.0, None, 0.1)]
)
def test_a_stretch_after_a_seek_holds_the_first_frame_at_or_after_each_sampling_time(
    counting, start, end, step
):
    frames = read_frames(counting, start, end, step, 24)
    stop = 40 / 25 if end is None else end
    times = [start + i * step for i in range(math.ceil((stop - start) / step - 1e-9))]
    assert frame_indices(frames) == [math.ceil(t * 25 - 1e-6) for t in times]


def test_a_slow_source_repeats_its_frames_for_a_faster_sampling(counting):
    assert frame_indices(read_frames(counting, 0.0, 0.2, 0.02, 16)) == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]


def test_the_probe_reads_duration_rate_and_audio_from_the_header(counting):
    info = probe(counting)
    assert info is not None and info.fps == 25 and not info.has_audio
    assert info.duration_s == pytest.approx(1.6, abs=0.05)


def bad_files(folder, counting):
    data = counting.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("not a video\n")
    (folder / "noise.mkv").write_bytes(bytes(range(256)) * 40)
    return sorted(folder.glob("*.m*"))


def test_bad_files_are_bad_items_with_a_one_line_reason(tmp_path, counting):
    for path in bad_files(tmp_path, counting):
        with pytest.raises(BadItemError) as err:
            read_frames(path, 0.0, None, 0.04, 16)
        assert str(err.value) and "\n" not in str(err.value), path.name
        assert probe(path) is None or path.name == "truncated.mp4"


def test_a_stretch_past_the_end_has_no_frames(counting):
    with pytest.raises(BadItemError, match="no decodable video frames after 5.00 s"):
        read_frames(counting, 5.0, 6.0, 0.04, 16)


def test_a_late_stretch_decodes_at_most_one_group_of_pictures_before_it(tmp_path, monkeypatch):
    path = write_counting_video(tmp_path / "long.mp4", frames=250, gop=25)  # 10 s, a keyframe a second
    decoded = []
    real_open = av.open

    class CountingContainer:
        def __init__(self, container):
            self.container = container

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def __getattr__(self, name):
            return getattr(self.container, name)

        def decode(self, *args, **kwargs):
            for frame in self.container.decode(*args, **kwargs):
                decoded.append(round(frame.time * 25))
                yield frame

    monkeypatch.setattr(av, "open", lambda *args, **kwargs: CountingContainer(real_open(*args, **kwargs)))
    frames = read_frames(path, 8.1, 8.5, 0.04, 16)
    painted = [round(k * LEVEL_STEP % 256 / LEVEL_STEP) for k in range(203, 213)]  # grey levels wrap at 256
    assert frame_indices(frames) == painted
    gop = 25  # frames from the keyframe before the stretch at most, never from the start of the file
    assert min(decoded) >= 203 - gop and len(decoded) <= gop + 10
