"""SSL methods, one file each, registered by name."""

# Importing a method module registers it.
from sslcli.methods import (  # noqa: F401
    audio_visual,
    barlow_twins,
    byol,
    clip_order,
    colorization,
    cpc,
    deepcluster,
    denoising,
    dino,
    inpainting,
    jigsaw,
    mae,
    moco,
    relative_patch,
    rotnet,
    simclr,
    simsiam,
    super_resolution,
    vicreg,
    video_mae,
)
from sslcli.methods.base import (
    Method,
    StepContext,
    StepOutput,
    available_methods,
    get_method,
    register_method,
)

__all__ = ["Method", "StepContext", "StepOutput", "available_methods", "get_method", "register_method"]
