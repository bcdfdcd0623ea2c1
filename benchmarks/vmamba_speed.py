"""CPU time per pixel of VMamba's `article` preset at 512x512 against Swin-UNet's `article`
preset at 448x448, in one run, 2 threads, 1 warm-up + 5 timed runs, median (issue: VMamba
at most 3x Swin per pixel). Also times VMamba with the chunked PyTorch scan, the
implementation the compiled loop replaced on CPU.

Run: python benchmarks/vmamba_speed.py
"""

import functools

import torch
from timing import median_time

from napari_temseg.models import vmamba
from napari_temseg.models.swin_unet import SwinUNet


def main() -> None:
    torch.set_num_threads(2)
    swin, vm = SwinUNet("article", img_size=448).eval(), vmamba.VMUNet("article").eval()
    x448, x512 = torch.rand(1, 1, 448, 448), torch.rand(1, 1, 512, 512)
    with torch.inference_mode():
        t_swin = median_time(lambda: swin(x448))
        t_vm = median_time(lambda: vm(x512))
        compiled = vm(x512)
        vmamba.cross_scan = functools.partial(vmamba.cross_scan, method="chunked")
        t_chunked = median_time(lambda: vm(x512), repeats=2)
        diff = (vm(x512) - compiled).abs().max().item()
    per_px = lambda seconds, size: seconds / size**2 * 1e6  # noqa: E731 - microseconds per pixel
    print(f"swin-unet article 448x448: {t_swin:.3f} s ({per_px(t_swin, 448):.3f} us/pixel)")
    print(f"vmamba article 512x512, compiled scan: {t_vm:.3f} s ({per_px(t_vm, 512):.3f} us/pixel)")
    print(f"vmamba article 512x512, chunked scan: {t_chunked:.3f} s; logits differ by at most {diff:.2e}")
    print(f"vmamba / swin per pixel: {per_px(t_vm, 512) / per_px(t_swin, 448):.2f}x "
          f"(chunked scan: {per_px(t_chunked, 512) / per_px(t_swin, 448):.2f}x)")


if __name__ == "__main__":
    main()
