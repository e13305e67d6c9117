"""Where torch runs: the device for a ``device`` setting and the CPU thread count."""

from __future__ import annotations

import torch


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given (error if absent)."""
    setting = str(setting or "auto")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} requested but CUDA is not available "
                           "(use device: auto or cpu)")
    return device


def set_threads(jobs: int) -> None:
    """Torch intra-op threads for CPU inference from ``compute.jobs`` (at least 1)."""
    torch.set_num_threads(max(1, int(jobs)))


def cpu_fingerprint() -> dict[str, object]:
    """What decides float rounding on this CPU (recorded in every training report): the CPU model,
    torch's vector kernels in use (``AVX2``/``AVX512``, see :mod:`stages`), MKL's reproducibility
    mode and the intra-op thread count."""
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "torch_kernels": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": os.environ.get("MKL_CBWR", ""), "onednn_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "threads": torch.get_num_threads()}
