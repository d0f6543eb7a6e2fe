"""Vendor profiles: each translates one kind of real device to the SPEC §3 contract."""

from __future__ import annotations

from device_adapters.profiles.base import DeviceConfig, Profile, Publish

_REGISTRY: dict[str, type[Profile]] = {}


def register(cls: type[Profile]) -> type[Profile]:
    """Class decorator: make a profile available by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def profile_class(name: str) -> type[Profile]:
    """The profile class for a name used in the site file; ValueError names the known ones."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown device profile {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    """Every registered profile name."""
    _load_all()
    return sorted(_REGISTRY)


def _load_all() -> None:
    # Import for the side effect of @register; a profile module that is missing is simply absent.
    import importlib

    for module in ("native", "tasmota", "shelly", "ha_cover", "frigate"):
        try:
            importlib.import_module(f"device_adapters.profiles.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"device_adapters.profiles.{module}":
                raise


__all__ = ["DeviceConfig", "Profile", "Publish", "names", "profile_class", "register"]
