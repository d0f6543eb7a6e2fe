"""The profile registry: every vendor profile is loadable by name and refuses the wrong kind."""

from __future__ import annotations

import pytest

from device_adapters.profiles import names, profile_class
from device_adapters.profiles.base import DeviceConfig
from device_adapters.topics import Topics

T = Topics("gatehouse", "demo")
WRONG_KIND = {"native": "alarm", "tasmota": "camera", "shelly": "scanner", "ha_cover": "idreader",
              "frigate": "barrier"}


def test_names_lists_all_five_profiles() -> None:
    """The site file can name native, tasmota, shelly, ha_cover and frigate."""
    assert {"native", "tasmota", "shelly", "ha_cover", "frigate"} <= set(names())


@pytest.mark.parametrize("name", sorted(WRONG_KIND))
def test_wrong_kind_is_refused(name: str) -> None:
    """A profile given a device of a kind it cannot drive raises ValueError before anything else."""
    device = DeviceConfig(site="demo", kind=WRONG_KIND[name], id="d1", profile=name, options={})
    with pytest.raises(ValueError, match="cannot drive"):
        profile_class(name)(device, T)


def test_unknown_profile_names_the_known_ones() -> None:
    """A typo in the site file is a ValueError that lists the real profile names."""
    with pytest.raises(ValueError, match="tasmota"):
        profile_class("tasmotta")


@pytest.mark.parametrize(("name", "relays"), [("tasmota", True), ("shelly", True), ("ha_cover", True),
                                              ("frigate", False), ("native", False)])
def test_relays_commands_flag(name: str, relays: bool) -> None:
    """Only vendor barriers ask the bridge to relay canonical commands to them."""
    assert bool(getattr(profile_class(name), "relays_commands", False)) is relays
