"""Swin-UNet: shifted-window transformer encoder, patch-expanding decoder with skip connections.

Parameter and buffer names follow the official Swin-Unet (`SwinTransformerSys`:
`patch_embed`, `layers.i.blocks.j.{norm1, attn.{relative_position_bias_table,
relative_position_index, qkv, proj}, norm2, mlp.{fc1, fc2}, attn_mask}`,
`layers.i.downsample`, `norm`, `layers_up`, `concat_back_dim`, `norm_up`, `up`,
`output`), so a checkpoint trained with the official code at the same
configuration loads. Attention uses fused `scaled_dot_product_attention` with
the relative position bias (and the shift mask) as an additive mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TemsegError
from .layers import DropPath, Mlp, init_weights

PRESETS = {
    # the article's size class: 3,631,721 parameters at 448 px (the article: 3,645,600, -0.38 %)
    "article": dict(embed_dim=35, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
    # the official "tiny" configuration: 27,168,132 parameters
    "tiny": dict(embed_dim=96, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24)),
}


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, w * w, C)."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_reverse(windows: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // w) * (wd // w))
    x = windows.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1)[None]  # 1, heads, n, n
        if mask is not None:
            windows = mask.shape[0]
            bias = (bias[None] + mask[None, :, None]).expand(b // windows, -1, -1, -1, -1).reshape(b, -1, n, n)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, window: int, shift: int, drop_path: float) -> None:
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= window:  # the whole map is one window: nothing to shift
            window, shift = min(resolution), 0
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        self.register_buffer("attn_mask", self._shift_mask() if shift else None)

    def _shift_mask(self) -> torch.Tensor:
        h, w = self.resolution
        regions = torch.zeros(1, h, w, 1)
        cuts = (slice(0, -self.window), slice(-self.window, -self.shift), slice(-self.shift, None))
        for i, (hs, ws) in enumerate((a, b) for a in cuts for b in cuts):
            regions[:, hs, ws, :] = i
        ids = window_partition(regions, self.window)[..., 0]
        mask = ids[:, None, :] - ids[:, :, None]
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self.attn_mask)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    def __init__(self, resolution: tuple[int, int], dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class PatchExpand(nn.Module):
    """x2 (expand to 2C, rearrange 2x2, C/2) or x4 final (expand to 16C, rearrange 4x4, C)."""

    def __init__(self, resolution: tuple[int, int], dim: int, scale: int) -> None:
        super().__init__()
        self.resolution, self.scale = resolution, scale
        self.expand = nn.Linear(dim, (2 if scale == 2 else 16) * dim, bias=False)
        self.norm = nn.LayerNorm(dim // 2 if scale == 2 else dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b = x.shape[0]
        s = self.scale
        x = self.expand(x).view(b, h, w, s, s, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h * s * w * s, -1)
        return self.norm(x)


class BasicLayer(nn.Module):
    def __init__(self, dim, resolution, depth, heads, window, drop_paths, downsample=False, upsample=False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2, drop_paths[i]) for i in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim) if downsample else None
        self.upsample = PatchExpand(resolution, dim, 2) if upsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        if self.downsample is not None:
            x = self.downsample(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class SwinTransformerSys(nn.Module):
    """(B, 3, S, S) -> (B, num_classes, S, S) logits, S = img_size."""

    def __init__(self, img_size=448, patch_size=4, in_chans=3, num_classes=1, embed_dim=96,
                 depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24), window_size=7, drop_path_rate=0.1) -> None:
        super().__init__()
        levels = len(depths)
        grid = img_size // patch_size
        self.grid = grid
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        self.patch_embed.norm = nn.LayerNorm(embed_dim)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        dim = lambda i: embed_dim * 2**i  # noqa: E731
        res = lambda i: (grid // 2**i, grid // 2**i)  # noqa: E731
        self.layers = nn.ModuleList(
            BasicLayer(dim(i), res(i), depths[i], num_heads[i], window_size, dpr[sum(depths[:i]):], downsample=i < levels - 1)
            for i in range(levels)
        )
        self.layers_up = nn.ModuleList()
        self.concat_back_dim = nn.ModuleList()
        for i in range(levels):
            j = levels - 1 - i
            self.concat_back_dim.append(nn.Linear(2 * dim(j), dim(j)) if i > 0 else nn.Identity())
            if i == 0:
                self.layers_up.append(PatchExpand(res(j), dim(j), 2))
            else:
                self.layers_up.append(
                    BasicLayer(dim(j), res(j), depths[j], num_heads[j], window_size, dpr[sum(depths[:j]):], upsample=i < levels - 1)
                )
        self.norm = nn.LayerNorm(dim(levels - 1))
        self.norm_up = nn.LayerNorm(embed_dim)
        self.up = PatchExpand((grid, grid), embed_dim, 4)
        self.output = nn.Conv2d(embed_dim, num_classes, 1, bias=False)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = self.patch_embed.norm(self.patch_embed.proj(x).flatten(2).transpose(1, 2))
        skips = []
        for layer in self.layers:
            skips.append(x)
            x = layer(x)
        x = self.norm(x)
        for i, layer in enumerate(self.layers_up):
            if i:
                x = self.concat_back_dim[i](torch.cat([x, skips[len(self.layers) - 1 - i]], -1))
            x = layer(x)
        x = self.up(self.norm_up(x))
        s = self.grid * 4
        return self.output(x.view(b, s, s, -1).permute(0, 3, 1, 2))


class SwinUNet(nn.Module):
    """Any (B, 1|3, H, W) input is resized to img_size and the logits back to (H, W)."""

    def __init__(self, preset: str = "article", img_size: int = 448, num_classes: int = 1, **overrides) -> None:
        super().__init__()
        config = {**PRESETS[preset], **overrides}
        unit = 4 * config.get("window_size", 7) * 2 ** (len(config.get("depths", (2, 2, 2, 2))) - 1)
        if img_size % unit:
            sizes = ", ".join(str(unit * k) for k in range(1, 5))
            raise TemsegError(f"Swin-UNet takes image sizes that are multiples of {unit} (4 px patches, windows "
                              f"of {config.get('window_size', 7)}, halved 3 times), e.g. {sizes}; not {img_size}")
        self.img_size = img_size
        self.num_classes = num_classes
        self.swin_unet = SwinTransformerSys(img_size=img_size, num_classes=num_classes, **config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(size) != (self.img_size, self.img_size):
            x = F.interpolate(x, (self.img_size, self.img_size), mode="bilinear", align_corners=False)
        y = self.swin_unet(x)
        return y if tuple(size) == (self.img_size, self.img_size) else F.interpolate(y, size, mode="bilinear", align_corners=False)
