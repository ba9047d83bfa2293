"""The old name of `python -m service.repository.triton_export`, kept so that scripts written
before the service was laid out in layers still run; it says where the command went."""

from __future__ import annotations

import sys

from service.repository.triton_export import main

if __name__ == "__main__":
    print(
        "service.triton_export moved: run python -m service.repository.triton_export",
        file=sys.stderr,
    )
    sys.exit(main())
