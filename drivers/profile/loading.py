"""Finding and loading profiles: the shipped folder drivers/profiles/, plus the folders in ``EDGE_PROFILES``."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from drivers.profile.models import Profile, ProfileError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"


def profile_dirs() -> list[Path]:
    extra = os.environ.get("EDGE_PROFILES")
    dirs = [Path(p) for p in extra.split(os.pathsep) if p] if extra else []
    return [*dirs, PROFILE_DIR]


def load_profile_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ProfileError(f"{path}: {problems}") from exc
    if profile.name != path.stem:
        raise ProfileError(f"{path}: profile name {profile.name!r} must match the file name {path.stem!r}")
    return profile


@functools.cache
def _load(name: str, dirs: tuple[Path, ...]) -> Profile:
    for directory in dirs:
        path = directory / f"{name}.yaml"
        if path.is_file():
            return load_profile_file(path)
    known = ", ".join(sorted(available_profiles())) or "none"
    raise ProfileError(f"no profile named {name!r} (known: {known})")


def get_profile(name: str) -> Profile:
    return _load(name, tuple(profile_dirs()))


def available_profiles() -> list[str]:
    names: set[str] = set()
    for directory in profile_dirs():
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.yaml"))
    return sorted(names)


def all_profiles() -> list[Profile]:
    return [get_profile(name) for name in available_profiles()]
