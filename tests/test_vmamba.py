"""VM-UNet: presets, official key layout, forward shapes (accuracy needs trained weights)."""

import torch

from napari_temseg.models.vmamba import VMUNet


def test_article_preset_size_and_official_key_names():
    model = VMUNet("article")
    assert sum(p.numel() for p in model.parameters()) == 3_125_035  # article: 3,145,179 (-0.64 %)
    keys = set(model.state_dict())
    for key in (
        "vmunet.patch_embed.proj.weight",
        "vmunet.layers.0.blocks.0.self_attention.x_proj_weight",
        "vmunet.layers.0.blocks.0.self_attention.dt_projs_bias",
        "vmunet.layers.0.blocks.0.self_attention.A_logs",
        "vmunet.layers.2.blocks.8.self_attention.Ds",
        "vmunet.layers.0.downsample.reduction.weight",
        "vmunet.layers_up.1.upsample.expand.weight",
        "vmunet.final_up.expand.weight",
        "vmunet.final_conv.bias",
    ):
        assert key in keys, key
    attn = model.state_dict()["vmunet.layers.0.blocks.0.self_attention.x_proj_weight"]
    assert tuple(attn.shape) == (4, 2 + 2 * 8, 48)  # (directions, dt_rank + 2 N, d_inner)


def test_state_dict_round_trip_and_forward():
    torch.manual_seed(0)
    a, b = VMUNet("article").eval(), VMUNet("article").eval()
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.rand(1, 1, 64, 64)
    with torch.inference_mode():
        ya, yb = a(x), b(x)
    assert ya.shape == (1, 1, 64, 64) and torch.equal(ya, yb)


def test_small_preset_is_the_official_configuration():
    config = VMUNet("small").vmunet
    assert config.patch_embed.proj.out_channels == 96
    assert [len(layer.blocks) for layer in config.layers] == [2, 2, 9, 2]
    assert [len(layer.blocks) for layer in config.layers_up] == [2, 9, 2, 2]
