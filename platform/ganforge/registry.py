"""The one registry type every extensible axis of ganforge uses.

Models, losses, regularizers, augment presets, data sets, optimizers, schedulers and metrics each
own one ``Registry``. Adding an entry is one decorator; looking one up by an unknown name is an
error that lists the valid names, so a typo in a spec says what would have worked.

A registry given its ``package`` fills itself on first use (importing the package's modules, so
their decorators run) rather than when the package is imported: a Ray worker that never looks a
metric up does not pay for torch-fidelity and torchvision (about 2 s per process on 2 cores).
"""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table filled by the ``register`` decorator."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._package = package  # imported (once) on the first lookup; None: filled by the caller

    def _load(self) -> None:
        if self._package is not None:
            package, self._package = self._package, None  # first: a module looking entries up while loading
            from ganforge.autoload import import_submodules

            try:
                import_submodules(package)
            except BaseException:
                self._package = package  # a failed import is retried (and raises again) on the next lookup
                raise

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("dcgan")`` adds the decorated object under ``name``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name raises KeyError listing the valid ones."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._entries))}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        self._load()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: Any) -> bool:
        self._load()
        return name in self._entries

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
