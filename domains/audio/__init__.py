"""Audio: WAV, FLAC, OGG and MP3 recordings as normalised log-mel spectrograms."""

from sslcli.domains.audio.domain import AudioDomain, AudioSettings

__all__ = ["AudioDomain", "AudioSettings"]
