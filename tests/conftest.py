import os

import torch

# Under pytest-xdist each worker gets one thread: two workers × all cores oversubscribes 2-core CI.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
