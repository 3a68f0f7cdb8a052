"""Video: mp4, webm, mkv, avi and mov files read by time with PyAV, as clips of frames."""

from sslcli.domains.video.domain import VideoDomain, VideoSettings

__all__ = ["VideoDomain", "VideoSettings"]
