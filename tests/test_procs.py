"""Process-tree memory for the benchmarks: the sampler sees a grandchild's allocation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from anb_pipeline.procs import TreeRssPeak, descendants

#: A child that starts a grandchild holding 200 MiB (touched, so resident) for a while.
GRANDCHILD_HOLDS_200_MIB = textwrap.dedent("""
    import subprocess, sys
    hold = "b = bytearray(200 * 1024 * 1024); import time; time.sleep(1.5)"
    subprocess.run([sys.executable, "-c", hold], check=True)
""")


def test_the_peak_covers_descendants_and_not_the_launching_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", GRANDCHILD_HOLDS_200_MIB])
    seen: list[int] = []
    with TreeRssPeak(child.pid) as memory:
        while child.poll() is None and not seen:
            seen = descendants(child.pid)
            time.sleep(0.01)
        child.wait()
    assert child.returncode == 0
    assert seen, "the grandchild was found under the child"
    # 200 MiB held by the grandchild, plus two small interpreters; this test process (the
    # launcher) is not counted whatever its size.
    assert 200 * 1024 < memory.peak_kib < 400 * 1024
