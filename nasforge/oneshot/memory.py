"""Peak CPU memory of one training step, from the PyTorch profiler's allocator events.

Method: run the step (forward, backward, no optimiser) under ``torch.profiler.profile(
profile_memory=True)``; the profiler records every allocation and free of the CPU allocator
as a ``[memory]`` event with a signed size. The running sum of those events, in time order,
is the memory allocated since the step began (activations, tensors saved for backward,
gradients, temporaries); its maximum is the step's peak. Memory live before the step
(parameters, buffers, the input batch) is not counted; gradients are cleared first so that
they are counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np


def peak_step_bytes(step: Callable[[], None]) -> int:
    """Peak bytes allocated during ``step()`` above what was live before it."""
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # keep Kineto quiet
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
              and e.device_type().name == "CPU"] if prof.profiler else []
    if not events:
        raise RuntimeError("the profiler recorded no memory events")
    events.sort(key=lambda e: e.start_ns())
    running = np.cumsum([e.nbytes() for e in events])
    return int(max(0, running.max()))
