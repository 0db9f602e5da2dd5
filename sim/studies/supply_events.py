"""What a supply scenario does to supply and demand: its shocks (a worker group of strategy
`offline` leaving) and spikes (a requester group whose arrivals start or stop inside the run)."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Events:
    """What the scenario does to supply and demand, in simulated seconds."""

    shocks: list[tuple[float, str, int]]
    """(time, group, workers): a group of offline workers leaving."""
    spikes: list[tuple[float, float, str, int]]
    """(start, stop, group, requesters): a requester group's arrival window."""

    def boundaries(self, duration_s: float) -> list[float]:
        """The phase boundaries: 0, every shock, every spike's start and stop, the end."""
        times = {0.0, duration_s}
        times.update(t for t, _, _ in self.shocks)
        for start, stop, _, _ in self.spikes:
            times.update((start, stop))
        return sorted(t for t in times if 0.0 <= t <= duration_s)


def scenario_events(scenario: Scenario) -> Events:
    """The shocks and spikes a scenario holds."""
    shocks = [
        (float(g.strategy.offline_after_s), g.name, g.count)
        for g in scenario.workers
        if g.strategy.kind == "offline" and g.strategy.offline_after_s is not None and g.count
    ]
    spikes = [
        (
            float(r.arrival.start_s),
            float(scenario.duration_s if r.arrival.stop_s is None else r.arrival.stop_s),
            r.name,
            r.count,
        )
        for r in scenario.requesters
        if r.count and (r.arrival.start_s > 0 or r.arrival.stop_s is not None)
    ]
    return Events(shocks=shocks, spikes=spikes)


__all__ = ["Events", "scenario_events"]
