"""A file a codec rejects is one reason (``BadItemError``) and nothing else: GDCM's built-in OpenJPEG
prints its errors straight to the process's standard error ("Invalid number of tiles ..."), which
stays quiet while a frame decodes and works again after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from sslcli.domains.discovery import BadItemError
from sslcli.domains.medical.decode import read_frame


def test_a_rejected_jpeg_2000_frame_is_one_reason_without_the_codecs_own_lines(capfd):
    broken = Path(get_testdata_file("JPEG2000-embedded-sequence-delimiter.dcm"))
    with pytest.raises(BadItemError, match="pixel data cannot be decoded"):
        read_frame(broken, 0)
    os.write(2, b"standard error works again\n")
    assert capfd.readouterr().err == "standard error works again\n"
