"""Mask decoder: tokens + image embedding -> 4 low-res mask logits and their predicted IoU."""

from __future__ import annotations

import torch
from torch import nn

from .transformer import MLPBlock, TwoWayTransformer


class MaskDecoder(nn.Module):
    def __init__(
        self,
        dim: int = 256,
        num_multimask_outputs: int = 3,
        upscaling_dims: tuple[int, ...] = (64, 32),
        iou_head_hidden: int = 256,
    ) -> None:
        super().__init__()
        self.transformer = TwoWayTransformer(depth=2, dim=dim, num_heads=8, mlp_dim=2048)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        layers, width = [], dim
        for i, out in enumerate(upscaling_dims):
            last = i == len(upscaling_dims) - 1
            layers.append(
                nn.Sequential(
                    nn.ConvTranspose2d(width, out, kernel_size=2, stride=2),
                    nn.Identity() if last else nn.GroupNorm(1, out),
                    nn.GELU(),
                )
            )
            width = out
        self.final_output_upscaling_layers = nn.ModuleList(layers)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLPBlock(dim, dim, width, num_layers=2) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLPBlock(dim, iou_head_hidden, self.num_mask_tokens, num_layers=2)

    def forward(
        self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, prompt_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embeddings (B, C, h, w), one per query (or broadcastable (1, ...));
        prompt_tokens (B, P, C) -> masks (B, 3, 4h, 4w), iou (B, 3) for mask tokens 1..3."""
        n = prompt_tokens.shape[0]
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens.expand(n, -1, -1), prompt_tokens], dim=1)
        image = image_embeddings.expand(n, -1, -1, -1)
        hs, src = self.transformer(image, image_pe, tokens)
        b, c, h, w = image.shape
        upscaled = src.transpose(1, 2).reshape(b, c, h, w)
        for layer in self.final_output_upscaling_layers:
            upscaled = layer(upscaled)
        hyper = torch.stack(
            [mlp(hs[:, 1 + i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        b, c, h, w = upscaled.shape
        masks = (hyper @ upscaled.reshape(b, c, h * w)).reshape(b, -1, h, w)
        iou = self.iou_prediction_head(hs[:, 0])
        return masks[:, 1:], iou[:, 1:]
