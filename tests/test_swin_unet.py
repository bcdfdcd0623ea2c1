"""Swin-UNet: presets, official key layout, any input size (accuracy needs trained weights)."""

import torch

from napari_temseg.models.swin_unet import SwinUNet


def test_presets_sizes_and_official_keys():
    article, tiny = SwinUNet("article"), SwinUNet("tiny")
    assert sum(p.numel() for p in article.parameters()) == 3_631_721  # article: 3,645,600 (-0.38 %)
    assert sum(p.numel() for p in tiny.parameters()) == 27_168_132
    keys = set(tiny.state_dict())
    for key in (
        "swin_unet.patch_embed.proj.weight",
        "swin_unet.layers.0.blocks.1.attn_mask",
        "swin_unet.layers.0.blocks.0.attn.relative_position_bias_table",
        "swin_unet.layers.0.blocks.0.attn.relative_position_index",
        "swin_unet.layers.2.downsample.reduction.weight",
        "swin_unet.layers_up.0.expand.weight",
        "swin_unet.layers_up.1.upsample.expand.weight",
        "swin_unet.concat_back_dim.3.weight",
        "swin_unet.norm_up.weight",
        "swin_unet.up.expand.weight",
        "swin_unet.output.weight",
    ):
        assert key in keys, key
    assert "swin_unet.layers.0.blocks.0.attn_mask" not in keys  # unshifted blocks have no mask
    assert tuple(tiny.state_dict()["swin_unet.up.expand.weight"].shape) == (16 * 96, 96)


def test_round_trip_and_any_input_size():
    torch.manual_seed(0)
    a, b = SwinUNet("article", img_size=224).eval(), SwinUNet("article", img_size=224).eval()
    b.load_state_dict(a.state_dict(), strict=True)
    with torch.inference_mode():
        x = torch.rand(1, 1, 300, 260)
        ya, yb = a(x), b(x)
        assert ya.shape == (1, 1, 300, 260) and torch.equal(ya, yb)
        assert a(torch.rand(2, 3, 224, 224)).shape == (2, 1, 224, 224)
