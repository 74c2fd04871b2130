"""docs/mqtt-api.md names the command actions the gateway really registers (``reset``, not ``reset_alarm``)."""

from __future__ import annotations

import re
from pathlib import Path

from drivers.profile import all_profiles

ROOT = Path(__file__).resolve().parents[2]


def documented_actions() -> set[str]:
    text = (ROOT / "docs" / "mqtt-api.md").read_text()
    paragraph = text[text.index("- Actions:") :].split("\n- ")[0].split("\n\n")[0]
    return set(re.findall(r"`([a-z_]+)`", paragraph))


def registered_actions() -> set[str]:
    sources = {
        "edge/app.py": r'register\("([a-z_]+)"|for action in \(([^)]*)\)',
        "edge/gate/component.py": r'\("([a-z_]+)", self\.',
        "edge/lift/component.py": r'register\("([a-z_]+)"',
    }
    found: set[str] = set()
    for path, pattern in sources.items():
        for match in re.finditer(pattern, (ROOT / path).read_text()):
            for group in match.groups():
                if group:
                    found |= set(re.findall(r"[a-z_]+", group))
    found |= {action for profile in all_profiles() for action in profile.actions}
    return found


def test_every_documented_action_is_registered() -> None:
    documented, registered = documented_actions(), registered_actions()
    assert {"ack_alarm", "reset", "unlock", "hold_door", "handle_alarm"} <= documented
    assert "reset_alarm" not in documented
    assert documented <= registered, f"documented but unknown to the gateway: {sorted(documented - registered)}"
