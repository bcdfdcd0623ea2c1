"""Selective state-space scan (Mamba's S6) in plain PyTorch, for CPU and CUDA alike."""

from .scan import cross_scan, scan_orders, selective_scan, selective_scan_reference

__all__ = ["cross_scan", "scan_orders", "selective_scan", "selective_scan_reference"]
