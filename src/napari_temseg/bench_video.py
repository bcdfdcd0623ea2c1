"""`temseg bench-video`: frames/s and peak memory of `temseg track` against video length.

Each length gets a synthetic 512x512 sintering video written as a TIFF (by a
child process, so this process stays small: a forked child's peak RSS starts
from its parent's), then a fresh `temseg track` process runs on it; its peak
RSS comes from the kernel's accounting of that child alone (os.wait4), its
speed from the wall clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tifffile

from .errors import TemsegError
from .models.specs import DEFAULT_MODEL, SPECS
from .synth import synth_video


def make_video_file(path: Path, n_frames: int, size: int, seed: int = 0) -> Path:
    """A synthetic sintering video with little drift (so particles stay in view for long runs)."""
    video = synth_video(
        n_frames=n_frames, shape=(size, size), n_single=20, n_pairs=6, n_triples=2, n_touching=3,
        drift=(0.02, 0.01), jitter=0.2, seed=seed,
    )
    tifffile.imwrite(path, video.frames, bigtiff=True)
    return path


def measure(video_path: Path, out: Path, model: str = DEFAULT_MODEL, chunk: int = 16) -> dict:
    """Run `temseg track` in a child process; wall time and that child's peak RSS."""
    cmd = [sys.executable, "-m", "napari_temseg.cli", "track", str(video_path), "--out", str(out),
           "--model", model, "--chunk", str(chunk), "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise TemsegError(f"temseg track failed on the benchmark video: {proc.stderr.read().decode().strip()[-500:]}")
    frames = tifffile.TiffFile(video_path).series[0].shape[0]
    return {"frames": frames, "seconds": elapsed, "frames_per_s": frames / elapsed, "peak_rss_mb": usage.ru_maxrss / 1024}


def bench_video(lengths: list[int], size: int = 512, model: str = DEFAULT_MODEL, workdir: str | None = None) -> list[dict]:
    if model not in SPECS:
        raise TemsegError(f"unknown model {model!r}; available: {', '.join(SPECS)}")
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for n in lengths:
            video = Path(tmp) / f"video_{n}.tif"
            code = (
                "import importlib, sys, pathlib; "
                "importlib.import_module('napari_temseg.bench_video').make_video_file("
                "pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
            )
            made = subprocess.run([sys.executable, "-c", code, str(video), str(n), str(size)], capture_output=True,
                                  text=True)
            if made.returncode != 0:  # e.g. a frame too small for the video's particles
                reason = (made.stderr.strip().splitlines() or ["no message"])[-1]
                raise TemsegError(f"cannot make a {n}-frame {size}x{size} benchmark video ({reason}); "
                                  "try a larger --size")
            row = measure(video, Path(tmp) / f"out_{n}", model)
            row["size"] = size
            rows.append(row)
            print(f"{n} frames: {row['frames_per_s']:.1f} frames/s, peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    return rows
