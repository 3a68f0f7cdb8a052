"""Backbones and heads."""

from sslcli.models.backbones import available_backbones, build_backbone
from sslcli.models.heads import ProjectionHead

__all__ = ["ProjectionHead", "available_backbones", "build_backbone"]
