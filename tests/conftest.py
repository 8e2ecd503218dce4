import os
import sys
from pathlib import Path

# Tiny test networks run fastest on one thread, and one thread keeps them fast when the
# machine is busy (torch's spinning intra-op threads collapse under oversubscription).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

torch.set_num_threads(1)
