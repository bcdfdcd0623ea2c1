"""VM-UNet: a U-Net of visual state-space (VSS) blocks, with a selective scan that runs on CPU.

Parameter names follow the official VM-UNet (`VMUNet.vmunet.*`: `patch_embed`,
`layers.i.blocks.j.self_attention.{in_proj, conv2d, x_proj_weight,
dt_projs_weight, dt_projs_bias, A_logs, Ds, out_norm, out_proj}`,
`layers.i.downsample`, `layers_up.i.upsample`, `final_up`, `final_conv`), so a
checkpoint of the same configuration loads. SS2D scans the token grid in four
directions (rows, columns, and both reversed) with input-dependent step, B and
C, learnt A and D; the scan itself is `models.ssm.cross_scan`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import DropPath, init_weights
from .ssm import cross_scan

PRESETS = {
    # the official depth pattern at a quarter of the width and half the state size:
    # 3,125,035 parameters, 0.64 % below the article's 3,145,179
    "article": dict(dims=(24, 48, 96, 192), depths=(2, 2, 9, 2), depths_decoder=(2, 9, 2, 2), d_state=8),
    # the official VM-UNet configuration (44,273,833 parameters as built here)
    "small": dict(dims=(96, 192, 384, 768), depths=(2, 2, 9, 2), depths_decoder=(2, 9, 2, 2), d_state=16),
}


class SS2D(nn.Module):
    """2-D selective scan over the four scan orders of an (H, W) token grid."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 3, expand: float = 2.0) -> None:
        super().__init__()
        self.d_state = d_state
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16)
        k, d = 4, self.d_inner
        self.in_proj = nn.Linear(d_model, d * 2, bias=False)
        self.conv2d = nn.Conv2d(d, d, d_conv, padding=(d_conv - 1) // 2, groups=d, bias=True)
        self.x_proj_weight = nn.Parameter(torch.empty(k, self.dt_rank + 2 * d_state, d))
        self.dt_projs_weight = nn.Parameter(torch.empty(k, d, self.dt_rank))
        self.dt_projs_bias = nn.Parameter(torch.empty(k, d))
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * d, 1))
        self.Ds = nn.Parameter(torch.ones(k * d))
        self.out_norm = nn.LayerNorm(d)
        self.out_proj = nn.Linear(d, d_model, bias=False)
        self._init_projections()

    def _init_projections(self, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Mamba's initialisation: step sizes start log-uniform in [dt_min, dt_max]."""
        bound = self.d_inner**-0.5
        nn.init.uniform_(self.x_proj_weight, -bound, bound)
        nn.init.uniform_(self.dt_projs_weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        dt = torch.exp(torch.rand(self.dt_projs_bias.shape) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt.clamp(min=1e-4))))  # inverse softplus

    def scan(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> (B, D, H*W) summed over the four scan orders.

        Projections are per token, so they are computed once in row-major order;
        `cross_scan` walks the grid in each order itself.
        """
        b, d, h, w = x.shape
        k = self.x_proj_weight.shape[0]
        tokens = x.reshape(b, d, h * w)
        proj = torch.einsum("bdl,kcd->bkcl", tokens, self.x_proj_weight)
        dts, Bs, Cs = torch.split(proj, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)
        A = -torch.exp(self.A_logs.float()).reshape(k, d, -1)
        return cross_scan(tokens, dts, A, Bs, Cs, self.Ds.float().reshape(k, d), self.dt_projs_bias.float(), h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        xz = self.in_proj(x)
        x, z = xz.chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2).contiguous()))
        y = self.scan(x).transpose(1, 2).reshape(b, h, w, -1)
        return self.out_proj(self.out_norm(y) * F.silu(z))


class VSSBlock(nn.Module):
    def __init__(self, dim: int, d_state: int, drop_path: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = SS2D(dim, d_state)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.self_attention(self.ln_1(x)))


class PatchEmbed2D(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging2D(nn.Module):
    """(B, H, W, C) -> (B, H/2, W/2, 2C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class PatchExpand2D(nn.Module):
    """(B, H, W, C) -> (B, sH, sW, C * s / ... ): a linear expansion rearranged into s x s pixels."""

    def __init__(self, dim: int, scale: int, out_dim: int) -> None:
        super().__init__()
        self.scale = scale
        self.expand = nn.Linear(dim, out_dim * scale * scale, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        s = self.scale
        x = self.expand(x).reshape(b, h, w, s, s, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h * s, w * s, -1)
        return self.norm(x)


class VSSLayer(nn.Module):
    def __init__(self, dim: int, depth: int, d_state: int, drop_paths: list[float], downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(VSSBlock(dim, d_state, p) for p in drop_paths[:depth])
        self.downsample = PatchMerging2D(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class VSSLayerUp(nn.Module):
    def __init__(self, dim: int, depth: int, d_state: int, drop_paths: list[float], upsample_from: int | None) -> None:
        super().__init__()
        self.upsample = PatchExpand2D(upsample_from, 2, dim) if upsample_from else None
        self.blocks = nn.ModuleList(VSSBlock(dim, d_state, p) for p in drop_paths[:depth])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        for block in self.blocks:
            x = block(x)
        return x


class VSSM(nn.Module):
    """Encoder of VSS layers with patch merging, decoder with patch expanding and additive skips."""

    def __init__(self, in_chans=3, num_classes=1, dims=(96, 192, 384, 768), depths=(2, 2, 9, 2),
                 depths_decoder=(2, 9, 2, 2), d_state=16, drop_path_rate=0.2, patch_size=4) -> None:
        super().__init__()
        dims = list(dims)
        dims_up = dims[::-1]
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        dpr_up = torch.linspace(0, drop_path_rate, sum(depths_decoder)).tolist()[::-1]
        self.patch_embed = PatchEmbed2D(patch_size, in_chans, dims[0])
        self.layers = nn.ModuleList(
            VSSLayer(dims[i], depths[i], d_state, dpr[sum(depths[:i]):], i < len(dims) - 1) for i in range(len(dims))
        )
        self.layers_up = nn.ModuleList(
            VSSLayerUp(dims_up[i], depths_decoder[i], d_state, dpr_up[sum(depths_decoder[:i]):], dims_up[i - 1] if i else None)
            for i in range(len(dims))
        )
        self.final_up = PatchExpand2D(dims[0], patch_size, dims[0] // patch_size)
        self.final_conv = nn.Conv2d(dims[0] // patch_size, num_classes, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        skips = []
        for layer in self.layers:
            skips.append(x)
            x = layer(x)
        for i, layer in enumerate(self.layers_up):
            x = layer(x if i == 0 else x + skips[-i])
        return self.final_conv(self.final_up(x).permute(0, 3, 1, 2))


class VMUNet(nn.Module):
    """(B, 1|3, H, W) -> (B, num_classes, H, W) logits; H and W multiples of 32."""

    def __init__(self, preset: str = "article", in_chans: int = 3, num_classes: int = 1, **overrides) -> None:
        super().__init__()
        config = {**PRESETS[preset], **overrides}
        self.num_classes = num_classes
        self.vmunet = VSSM(in_chans=in_chans, num_classes=num_classes, **config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.vmunet(x)
