"""The audiovisual domain: a video clip and the log-mel of its soundtrack over the same seconds."""

from sslcli.domains.audiovisual.domain import AudioVisualDomain, AudioVisualSettings

__all__ = ["AudioVisualDomain", "AudioVisualSettings"]
