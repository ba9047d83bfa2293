"""Print the serving dependencies ([project].dependencies and everything they pull in, with
their extras) pinned to the versions installed here, for `pip-audit -r` (see `make audit`)."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def serving_closure(root: str = "ganserve") -> dict[str, str]:
    """name -> installed version, walking requirements from `root`'s non-extra ones."""
    pins: dict[str, str] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in distribution(root).requires or [] if "extra ==" not in r]
    while todo:
        req = todo.pop()
        if (_key(req.name), frozenset(req.extras)) in done:
            continue
        done.add((_key(req.name), frozenset(req.extras)))
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:  # a marker excludes it on this platform
            continue
        pins[_key(req.name)] = dist.version
        for line in dist.requires or []:
            sub = Requirement(line)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return pins


if __name__ == "__main__":
    for name, version in sorted(serving_closure().items()):
        print(f"{name}=={version}")
