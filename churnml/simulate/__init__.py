"""A realistic, seeded B2B SaaS world for demos, tests and benchmarks.

The story, module by module:

* `lifecycle`: accounts (segment, industry, region, CSM, seats, contract type) and a latent monthly health that
  drifts with momentum, mean-reverts to an account baseline, takes shocks (a champion leaving) and follows the
  owning CSM's morale and the onboarding quality. A monthly churn hazard, logistic in health, decides churn and
  is written to `truth/` exactly as used; annual contracts churn mostly in their renewal month.
* `usage`: product events from health, seats and static traits (never from the churn decision).
* `support`: tickets, CES/CSAT/NPS responses (unhappy accounts answer less) and the CS team's eNPS.
* `world`: `simulate_world`, which runs chunks of accounts and writes the folder the pipeline reads.
"""

from churnml.simulate.world import SimulationSummary, simulate_world

__all__ = ["SimulationSummary", "simulate_world"]
