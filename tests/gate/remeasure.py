"""The faces of one analysed photo shown again, as if measured afresh in another frame.

A still photo analysed again gives the same embedding and p(live); what differs is the evidence number
(edge.gate.still). The decision counts distinct evidence, so a test that shows one analysis for several
frames must give each frame its own, as the analyser would.
"""

from __future__ import annotations

import dataclasses

from edge.gate.faces import Face


def afresh(faces: list[Face]) -> list[Face]:
    return [dataclasses.replace(f, evidence=None) for f in faces]
