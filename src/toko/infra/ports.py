"""The TCP ports a start will bind, and the check that refuses to start when one is taken."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from toko.infra.errors import InfraError
from toko.infra.netcheck import port_in_use


@dataclass(frozen=True)
class PortClaim:
    """A port something of ours will listen on, and the variable that moves it."""

    port: int
    owner: str  # what listens there: "gateway", "nats monitoring"
    variable: str  # e.g. TOKO_GATEWAY_PORT


class PortInUseError(InfraError):
    """A port we need is taken (by another program, or given twice in our own configuration)."""


def refuse_taken_ports(claims: Iterable[PortClaim]) -> None:
    """Raise ``PortInUseError``, one line naming each port and its variable, unless every port is free."""
    problems: list[str] = []
    first_claim: dict[int, PortClaim] = {}
    for claim in claims:
        earlier = first_claim.setdefault(claim.port, claim)
        if earlier is not claim:
            problems.append(
                f"port {claim.port} is given to both {earlier.owner} and {claim.owner} "
                f"(set {earlier.variable} or {claim.variable} to another port)"
            )
    problems += [
        f"port {claim.port} ({claim.owner}) is already in use (set {claim.variable} to another port)"
        for claim in first_claim.values()
        if port_in_use(claim.port)
    ]
    if problems:
        raise PortInUseError("; ".join(problems))
