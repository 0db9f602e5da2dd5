"""Scenarios: what one simulation runs, read from TOML and checked against a schema.

    load_scenario(path, overrides)    a file, with `key.path=value` overrides (`--set`)
    scenario_from_dict(data)          parsed TOML (or a dict built in a notebook)
    with_overrides(s, overrides)      a scenario with overrides applied
    resolved_toml(s)                  every field, defaults included; loads back equal
    scenario_key_exists(key)          whether a sweep grid may vary `key`
    ScenarioError                     names the file, the key path and the problem

The models (`Scenario` and its sections) live in `sim.scenario.schema`; `Distribution.draw`
draws a stake or a throughput from a seeded `random.Random`.
"""

from sim.scenario.distribution import Distribution
from sim.scenario.loading import (
    ScenarioError,
    load_scenario,
    parse_key,
    parse_override,
    resolved_toml,
    scenario_dict,
    scenario_from_dict,
    scenario_key_exists,
    with_overrides,
)
from sim.scenario.schema import (
    PLANCK_PER_XPL,
    TABLE_NAMES,
    Arrival,
    ChainConfig,
    FaultEvent,
    FaultPlan,
    JobMix,
    NetworkConfig,
    OutputConfig,
    Pricing,
    RandomFaults,
    RequesterGroup,
    Scenario,
    Strategy,
    ValidatorSet,
    WorkerGroup,
    xpl_to_planck,
)

__all__ = [
    "PLANCK_PER_XPL",
    "TABLE_NAMES",
    "Arrival",
    "ChainConfig",
    "Distribution",
    "FaultEvent",
    "FaultPlan",
    "JobMix",
    "NetworkConfig",
    "OutputConfig",
    "Pricing",
    "RandomFaults",
    "RequesterGroup",
    "Scenario",
    "ScenarioError",
    "Strategy",
    "ValidatorSet",
    "WorkerGroup",
    "load_scenario",
    "parse_key",
    "parse_override",
    "resolved_toml",
    "scenario_dict",
    "scenario_from_dict",
    "scenario_key_exists",
    "with_overrides",
    "xpl_to_planck",
]
