"""FAR/FRR on the residents the product is for: 41 East Asian identities (faces/asia), through the gate's own path.

Photo 1 of each person is enrolled; the other 129 photos are replayed as one clip through ``edge gate
replay``'s function with the default models, threshold, margin, quality gates and k-of-n (liveness off:
a clip of photos is not live). Goal (issue 12): no probe granted as someone else, >= 90 % granted as themselves.
"""

from __future__ import annotations

from pathlib import Path

from bench.asia_protocol import run
from tests.conftest import shared_file


def test_no_lookalike_gets_in_and_residents_do(tmp_path: Path, faces_dir: Path, enroller) -> None:
    result = run(shared_file(faces_dir.parent, "faces/asia"), tmp_path, enroller=enroller)
    assert result.probes == 129
    assert result.granted_other == 0, result.outcomes
    assert result.tar >= 0.90, result.outcomes
