"""Where a report was made: library versions, Python, CPU and GPU of this machine.

A run's report is written at the end of the search, in the process that ran it, so for a fresh
run this is the run's own machine. A report rebuilt later (``nasforge report RUN``) describes the
machine that rebuilt it, unless the run stored its environment (``meta['environment']``), which
then wins. Nothing here imports torch: its version comes from the installed package's metadata
and the GPU from torch only when the process has already imported it.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: the libraries whose versions a report shows
LIBRARIES = ("nasforge", "torch", "numpy", "plotly")


def current_environment() -> dict[str, Any]:
    """Versions, Python, OS, CPU model and cores, GPUs of the running process's machine."""
    return {
        "versions": {name: _version(name) for name in LIBRARIES},
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpus": gpus(),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``; elsewhere what :mod:`platform` knows)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpus(proc: Path = Path("/proc/driver/nvidia/gpus")) -> list[str]:
    """GPU names: from torch if this process imported it, else from the NVIDIA driver's files."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        except Exception:  # noqa: BLE001 - a broken CUDA set-up must not stop a report
            pass
    names = []
    try:
        for info in sorted(proc.glob("*/information")):
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return names
