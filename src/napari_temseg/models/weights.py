"""Where model weights come from: an explicit file, the user cache, or files shipped in the package.

Downloads go through pooch into a cache folder (override with TEMSEG_CACHE).
Checkpoints are read with `torch.load(..., weights_only=True)`: tensors only,
never arbitrary pickled objects. A file that is not the expected model's
checkpoint is refused with a message naming the model it should be.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TemsegError

PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class WeightSpec:
    """Where a model's weights come from (each `ModelSpec` holds one). filename: name in the
    cache; url: official download; sha256: known hash of the official file (None where it
    could not be checked here); bundled: file shipped inside the package, used when nothing
    else is found; variants: other shipped files, by the name `weights=` takes for them."""

    filename: str
    url: str | None
    sha256: str | None = None
    bundled: str | None = None
    variants: dict[str, str] = field(default_factory=dict)


#: The edge refiner is trained and shipped like a model, though it only finishes other models' edges.
EDGE_REFINER = "edge-refiner"
_EDGE_REFINER_WEIGHTS = WeightSpec(filename="edge_refiner_temseg.pt", url=None, bundled="edge_refiner_temseg.pt")


def registered() -> dict[str, WeightSpec]:
    """Every weights entry by name: the models' (from their specs) and the edge refiner's."""
    from .specs import SPECS

    return {**{name: s.weights for name, s in SPECS.items() if s.weights}, EDGE_REFINER: _EDGE_REFINER_WEIGHTS}


def cache_dir() -> Path:
    """The weights cache: $TEMSEG_CACHE, else the platform's user cache for napari-temseg."""
    env = os.environ.get("TEMSEG_CACHE")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("napari-temseg"))


def spec(model: str) -> WeightSpec:
    table = registered()
    try:
        return table[model]
    except KeyError:
        raise TemsegError(f"no weights are registered for {model!r}; models with weights: {', '.join(table)}") from None


def find(model: str) -> Path | None:
    """The file `load_model(model)` would use without an explicit path: cache, then package."""
    s = spec(model)
    cached = cache_dir() / s.filename
    if cached.is_file():
        return cached
    if s.bundled and (PACKAGE_WEIGHTS / s.bundled).is_file():
        return PACKAGE_WEIGHTS / s.bundled
    return None


def resolve(model: str, weights: str | os.PathLike | None = None) -> Path:
    """An explicit `weights` file or shipped variant name, else `find(model)`, else a clear
    error saying how to get one."""
    if weights is not None:
        entry = registered().get(model)
        variants = entry.variants if entry else {}
        path = PACKAGE_WEIGHTS / variants[weights] if weights in variants else Path(weights)
        if not path.is_file():
            known = f" (or a shipped variant: {', '.join(variants)})" if variants else ""
            raise TemsegError(f"{path}: no such weights file for {model}{known}")
        return path
    found = find(model)
    if found is None:
        raise TemsegError(
            f"no weights for {model}: run `temseg weights fetch {model}`, or download "
            f"{spec(model).url} elsewhere and run `temseg weights import {model} FILE`"
        )
    return found


def cached(model: str) -> Path | None:
    """The file under the official name in the cache (fetched or imported), if there is one."""
    path = cache_dir() / spec(model).filename
    return path if path.is_file() else None


def fetch(model: str) -> Path:
    """Download the official weights into the cache; offline, say how to import them instead."""
    import pooch

    s = spec(model)
    if s.url is None:
        raise TemsegError(f"{model} has no official download; its weights ship with the package")
    try:
        path = pooch.retrieve(s.url, known_hash=s.sha256, fname=s.filename, path=cache_dir(), progressbar=False)
    except Exception as err:  # noqa: BLE001 - requests/urllib raise many kinds; all mean "not downloaded"
        raise TemsegError(
            f"could not download {model} weights from {s.url} ({type(err).__name__}); "
            f"download the file on a machine with internet access and run "
            f"`temseg weights import {model} PATH/{s.filename}`"
        ) from None
    return Path(path)


def import_file(
    model: str,
    file: str | os.PathLike,
    check: Callable[[Path], object],
    write: Callable[[Path, Path], object] = shutil.copyfile,
) -> Path:
    """Put a downloaded checkpoint into the cache: `write(source, temporary)` copies (or converts)
    it beside the target, `check(temporary)` must load it, and only then does it replace the
    previous file, in one rename; a file that fails leaves the cache as it was."""
    source = Path(file)
    if not source.is_file():
        raise TemsegError(f"{source}: no such file")
    target = cache_dir() / spec(model).filename
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.importing")
    try:
        write(source, temporary)
        check(temporary)
        os.replace(temporary, target)
    except TemsegError as err:  # name the user's file, not the temporary copy
        raise TemsegError(str(err).replace(str(temporary), str(source))) from None
    finally:
        temporary.unlink(missing_ok=True)
    return target


def load_state_dict(path: str | os.PathLike, model: str, expected_keys: set[str]) -> dict:
    """Tensors of a checkpoint (a state dict, or a dict holding one under "model"),
    checked against the expected model's key set."""
    return load_checkpoint(path, model, expected_keys)[0]


def load_checkpoint(path: str | os.PathLike, model: str, expected_keys: set[str]) -> tuple[dict, dict]:
    """(state dict, settings): settings are what this project stores beside the official
    layout under "temseg" (e.g. the input size a model was trained at), else {}."""
    import torch

    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for files that are not checkpoints
        hint = (
            " (it holds pickled Python objects, as ultralytics YOLO checkpoints do)"
            if "Unsupported global" in str(err)
            else ""
        )
        raise TemsegError(f"{path}: is not a checkpoint of {model}{hint}; could not read it as tensors") from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise TemsegError(f"{path}: is not a checkpoint of {model} (no state dict inside)")
    keys = set(state)
    if keys != expected_keys:
        missing, extra = expected_keys - keys, keys - expected_keys
        example = sorted(missing or extra)[:3]
        raise TemsegError(
            f"{path}: is not a checkpoint of {model} ({len(missing)} expected tensors missing, "
            f"{len(extra)} unexpected, e.g. {', '.join(example)})"
        )
    check_finite(state, path)
    settings = data.get("temseg", {}) if isinstance(data, dict) else {}
    return state, settings if isinstance(settings, dict) else {}


def check_finite(state: dict, path: str | os.PathLike) -> None:
    """Refuse weights holding NaN or infinite values (a run that diverged, a damaged copy):
    they would segment without a word and draw nothing, or everything."""
    import torch

    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise TemsegError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]}): "
                          "the training diverged or the file is damaged")
