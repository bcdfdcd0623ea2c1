"""EfficientSAM-tiny written in this project, loading the official "vitt" checkpoint unchanged."""

from .model import EfficientSam, build_efficient_sam, build_efficient_sam_vitt

__all__ = ["EfficientSam", "build_efficient_sam", "build_efficient_sam_vitt"]
