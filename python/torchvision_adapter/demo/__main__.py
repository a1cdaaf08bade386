import os
import sys

# OpenMP threads that spin while waiting make a busy machine several times slower (measured: a training
# step of the demo's detector took 4x longer with 2 spinning threads than with 1 thread on a loaded
# 2-core machine, and the same as 1 thread with passive waiting). The policy is read when OpenMP starts,
# which importing this package has already done, so the demo restarts itself once with it set.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "torchvision_adapter.demo", *sys.argv[1:]])

from . import main  # noqa: E402

main()
