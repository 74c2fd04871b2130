"""Device profiles: one declarative YAML file per device model in drivers/profiles/.

A profile says which unit(s) a device answers on (a manhole monitor is one logical device built from a
tilt sensor, a water radar and a lid contact, each its own Modbus unit: its *parts*), which registers hold
which field (type, scale, unit, sentinels), which fields are derived from others with the device's
calibration (bin fill %), which write actions it offers (alarm reset, unlock pulse) and its default alarm
rules. Installers add a model by dropping a file into the directory (or ``EDGE_PROFILES``); no code.

One module per concern: ``models`` (what a file may say), ``loading`` (finding and reading the files),
``codec`` (raw words <-> values, a pure pipeline per field: unpack -> sentinel -> invert -> scale/offset ->
round), ``derive`` (values computed with the calibration), ``expressions`` (the arithmetic of write actions)
and ``blocks`` (merging fields into read transactions). This package's namespace is their public API.
"""

from __future__ import annotations

from drivers.profile.arguments import check_args
from drivers.profile.blocks import Block, plan_blocks
from drivers.profile.codec import Decoded, DecodeError, decode_field, encode_field, raw_value
from drivers.profile.derive import DERIVATIONS, Derivation, derive
from drivers.profile.expressions import compile_expression, evaluate
from drivers.profile.loading import (
    PROFILE_DIR,
    all_profiles,
    available_profiles,
    get_profile,
    load_profile_file,
    profile_dirs,
)
from drivers.profile.models import (
    KEY_PATTERN,
    MAIN,
    WORDS,
    ActionSpec,
    ArgSpec,
    ChannelsSpec,
    DerivedSpec,
    FieldSpec,
    IdentifySpec,
    PartSpec,
    Profile,
    ProfileError,
    SerialDefaults,
    WriteStep,
)

__all__ = [
    "DERIVATIONS",
    "KEY_PATTERN",
    "MAIN",
    "PROFILE_DIR",
    "WORDS",
    "ActionSpec",
    "ArgSpec",
    "Block",
    "ChannelsSpec",
    "DecodeError",
    "Decoded",
    "Derivation",
    "DerivedSpec",
    "FieldSpec",
    "IdentifySpec",
    "PartSpec",
    "Profile",
    "ProfileError",
    "SerialDefaults",
    "WriteStep",
    "all_profiles",
    "available_profiles",
    "check_args",
    "compile_expression",
    "decode_field",
    "derive",
    "encode_field",
    "evaluate",
    "get_profile",
    "load_profile_file",
    "plan_blocks",
    "profile_dirs",
    "raw_value",
]
