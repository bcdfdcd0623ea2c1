"""Point and box prompts -> sparse tokens, with random Fourier position features."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Label codes of the official model: -1 padding, 0 negative, 1 positive, 2/3 box corners.
PAD, NEGATIVE, POSITIVE, BOX_TOP_LEFT, BOX_BOTTOM_RIGHT = -1, 0, 1, 2, 3


class PositionEmbeddingRandom(nn.Module):
    """Fourier features of (x, y) in [0, 1]: [sin, cos] of 2*pi*(2c - 1) @ G."""

    def __init__(self, num_pos_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def dense(self, h: int, w: int) -> torch.Tensor:
        """(C, h, w) features of every cell centre of an h x w grid."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # h, w, (x, y)
        return self.encode(grid).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    """(N, P, 2) points as (x, y) in encoder pixels with (N, P) labels -> (N, P, C) tokens."""

    def __init__(self, embed_dim: int = 256, embedding_size: int = 64, input_size: int = 1024) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.input_size = input_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.invalid_points = nn.Embedding(1, embed_dim)
        self.point_embeddings = nn.Embedding(1, embed_dim)
        self.bbox_top_left_embeddings = nn.Embedding(1, embed_dim)
        self.bbox_bottom_right_embeddings = nn.Embedding(1, embed_dim)

    def dense_pe(self) -> torch.Tensor:
        """(1, C, 64, 64) position features of the image embedding grid, computed once per
        value of the encoder's matrix (loading weights changes it: the cache follows)."""
        matrix = self.pe_layer.positional_encoding_gaussian_matrix
        key = (matrix._version, matrix.device, matrix.data_ptr())
        if getattr(self, "_dense_key", None) != key:
            self._dense = self.pe_layer.dense(self.embedding_size, self.embedding_size)[None]
            self._dense_key = key
        return self._dense

    def forward(self, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        coords = (points + 0.5) / self.input_size  # pixel centres
        tokens = self.pe_layer.encode(coords.float())
        labels = labels[..., None]
        # A negative point (label 0) is its position alone: no learned embedding.
        for code, table in (
            (PAD, self.invalid_points),
            (POSITIVE, self.point_embeddings),
            (BOX_TOP_LEFT, self.bbox_top_left_embeddings),
            (BOX_BOTTOM_RIGHT, self.bbox_bottom_right_embeddings),
        ):
            tokens = tokens + table.weight * (labels == code)
        return tokens
