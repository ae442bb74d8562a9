"""huashi (画师): train, paint with and measure image generators on your own machine."""

import os as _os

# OpenMP threads that spin-wait between parallel regions steal time from everything else on a
# busy machine; ask them to sleep at once. This must happen before torch loads OpenMP, so it
# lives here; a value the user set wins. (See huashi.training.device, "CPU threads".)
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("KMP_BLOCKTIME", "0")

__version__ = "0.1.0"
