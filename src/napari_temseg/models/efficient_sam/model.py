"""EfficientSAM: encode an image once, then decode any number of point/box prompts cheaply.

Inputs follow the official model: images (B, 3, H, W) float in [0, 1]; points
(B, Q, N, 2) as (x, y) pixels of the H x W input; labels (B, Q, N) with
-1 padding, 0 negative, 1 positive, 2/3 box corners. Q queries share an image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PAD, PromptEncoder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EfficientSam(nn.Module):
    def __init__(
        self,
        image_encoder: ImageEncoderViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        max_points: int = 6,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.max_points = max_points
        # Not in the official checkpoint: fixed ImageNet statistics.
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def img_size(self) -> int:
        return self.image_encoder.img_size

    def get_image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 256, 64, 64). Resized straight to the encoder size."""
        size = self.img_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, (size, size), mode="bilinear", align_corners=False)
        return self.image_encoder((images - self.pixel_mean) / self.pixel_std)

    def _encoder_points(self, points: torch.Tensor, labels: torch.Tensor, input_hw: tuple[int, int]):
        """Scale (x, y) to encoder pixels (negative stays -1) and pad/cut to `max_points`."""
        h, w = input_hw
        scale = points.new_tensor([self.img_size / w, self.img_size / h])
        points = torch.where(points >= 0, points * scale, torch.full_like(points, -1.0))
        n = points.shape[-2]
        if n > self.max_points:
            points, labels = points[..., : self.max_points, :], labels[..., : self.max_points]
        elif n < self.max_points:
            points = F.pad(points, (0, 0, 0, self.max_points - n), value=-1.0)
            labels = F.pad(labels, (0, self.max_points - n), value=PAD)
        return points, labels

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        points: torch.Tensor,
        labels: torch.Tensor,
        input_hw: tuple[int, int],
        output_hw: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder only: (B, Q, 3, h, w) mask logits (256x256 unless output_hw) and (B, Q, 3) IoU."""
        b, q = points.shape[:2]
        points, labels = self._encoder_points(points, labels, input_hw)
        tokens = self.prompt_encoder(points.reshape(b * q, self.max_points, 2), labels.reshape(b * q, -1))
        embeddings = image_embeddings if b == 1 else image_embeddings.repeat_interleave(q, dim=0)
        masks, iou = self.mask_decoder(embeddings, self.prompt_encoder.dense_pe(), tokens)
        if output_hw is not None:
            masks = F.interpolate(masks, output_hw, mode="bicubic", align_corners=False)
        return masks.reshape(b, q, *masks.shape[1:]), iou.reshape(b, q, -1)

    def forward(
        self,
        images: torch.Tensor,
        points: torch.Tensor,
        labels: torch.Tensor,
        scale_to_original_image_size: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hw = tuple(images.shape[-2:])
        embeddings = self.get_image_embeddings(images)
        return self.predict_masks(embeddings, points, labels, hw, hw if scale_to_original_image_size else None)


def build_efficient_sam(embed_dim: int, num_heads: int, img_size: int = 1024) -> EfficientSam:
    """The official layout with a ViT of `embed_dim` channels and `num_heads` heads."""
    encoder = ImageEncoderViT(img_size=img_size, patch_embed_dim=embed_dim, num_heads=num_heads)
    return EfficientSam(
        encoder,
        PromptEncoder(256, encoder.image_embedding_size, img_size),
        MaskDecoder(256),
    )


def build_efficient_sam_vitt() -> EfficientSam:
    """EfficientSAM-Ti ("vitt"): 192 channels, 3 heads, 10,223,204 parameters."""
    return build_efficient_sam(192, 3)
