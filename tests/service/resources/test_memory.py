"""glibc told to keep freed buffers: a second large buffer reuses the first's pages, and a
trim still hands them back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from service.resources import memory

# In a fresh process (mallopt is process-wide): minor page faults of filling a 256 MiB buffer
# twice, freed in between, and the resident set before and after a trim.
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from service.resources import memory

    told = memory.reuse_freed_memory(2 << 30) if sys.argv[1] == "reuse" else None

    def faults_of_a_filled_buffer():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = np.empty(256 << 20, np.uint8)
        buffer.fill(1)
        del buffer
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    first, second = faults_of_a_filled_buffer(), faults_of_a_filled_buffer()
    held = memory.resident_bytes()
    memory.give_back_freed()
    print(json.dumps(dict(told=told, first=first, second=second, held=held,
                          trimmed=memory.resident_bytes())))
    """
)


def _child(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(memory._LIBC is None, reason="glibc's allocator only")
def test_a_freed_buffer_is_kept_and_reused_until_a_trim() -> None:
    default, reuse = _child("default"), _child("reuse")
    # glibc's defaults map a buffer this large on its own, and unmap it when freed: each fill
    # faults its pages in afresh (fewer faults than pages where huge pages back it).
    assert default["second"] > 0.5 * default["first"] > 0, default
    assert default["held"] - default["trimmed"] < 32 << 20, default
    assert reuse["told"] is True
    assert reuse["second"] < 0.1 * reuse["first"], reuse  # the kept pages, faulted in once
    assert reuse["held"] - reuse["trimmed"] > 200 << 20, reuse  # kept until the trim
