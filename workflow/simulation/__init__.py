"""A year of the Service Express, simulated: realistic data for the demo, reports and benchmarks.

:mod:`.world` describes who takes part (enterprises, units, the office, the
leaders) and :mod:`.year` plays a few hundred problems of the shipped
``enterprise_issue`` workflow through the public API on a simulated clock —
some answered fast, some late, some reopened, some escalated to the monthly
review and the quarterly dispatch — with an escalation pass every working
evening and the meetings held at their cron times, deciding on their agendas.

Everything is deterministic for a given seed. It sits at the edge, beside
the CLI: it drives the engine as a host would and is imported by nothing in
the layers below.
"""

from __future__ import annotations

from workflow.simulation.world import EnterpriseSeat, World
from workflow.simulation.year import MonthLine, YearReport, simulate_year

__all__ = ["EnterpriseSeat", "MonthLine", "World", "YearReport", "simulate_year"]
