"""Encoders (registered by input kind in ``sslcli.models.encoders``) and heads."""

from sslcli.models.encoders import EncoderFamily, build_backbone, build_encoder
from sslcli.models.heads import ProjectionHead

__all__ = ["EncoderFamily", "ProjectionHead", "build_backbone", "build_encoder"]
