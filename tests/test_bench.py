import json

import pytest
import torch
from conftest import interrupt_on_call

from napari_temseg import TemsegError, bench


def test_bench_classical_rows_and_files(tmp_path):
    rows = bench.run_bench(["classical"], repeats=1)
    [row] = rows
    assert row.model == "classical" and row.resolution == 512 and row.batch == 1
    assert row.images_per_s > 1 and row.pixels_per_s == pytest.approx(row.images_per_s * 512**2)
    assert 0.9 < row.iou <= 1 and 0.8 < row.f1 <= 1
    records = json.loads(bench.write_rows(rows, tmp_path / "t.json").read_text())
    assert isinstance(records, list) and records[0]["model"] == "classical"
    assert bench.write_rows(rows, tmp_path / "t.csv").read_text().startswith("model,mode,resolution")
    table = bench.write_rows(rows, tmp_path / "t.md").read_text()
    assert "| classical | default | 512 |" in table and "article images/s" in table
    with pytest.raises(TemsegError, match=".csv, .json or .md"):
        bench.write_rows(rows, tmp_path / "t.txt")


def test_interrupt_keeps_finished_rows(monkeypatch):
    interrupt_on_call(monkeypatch, bench, "bench_model", 2)
    rows = bench.run_bench(["classical", "classical"], repeats=1)
    assert len(rows) == 1


def test_unknown_model_and_missing_cuda_are_clear():
    with pytest.raises(TemsegError, match="cannot benchmark nope"):
        bench.run_bench(["nope"])
    if not torch.cuda.is_available():
        with pytest.raises(TemsegError, match="no CUDA device"):
            bench.run_bench(["classical"], device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_on_cuda():
    [row] = bench.run_bench(["classical"], device="cuda", repeats=1)
    assert row.device == "cuda"
