"""Array namespaces with a few names mapped to the library's own, for the primal vocabulary."""

from __future__ import annotations

from typing import Any


class RenamedNamespace:
    """``module`` as a namespace, with ``renames`` (vocabulary name -> library name) applied.

    autograd.numpy and mygrad call ``concat`` ``concatenate``; everything else
    is looked up on the module as it is.
    """

    def __init__(self, module: Any, **renames: str) -> None:
        self._module = module
        for name, target in renames.items():
            setattr(self, name, getattr(module, target))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)
