"""Closing the loop: alerts and plays, the holdout, the intervention log, and which plays actually work.

* `playbook`: cause → recommended play and its text (configuration, `plays.playbook`).
* `alerts`: the causes an account's week raises (band up, risk jump, broken signals), pure.
* `holdout`: the random, recorded, band-stratified share of new alerts kept un-routed (`plays.holdout`).
* `state`: the alert store beside the score store (`alerts.duckdb`): one alert per account and cause until it
  is resolved or the cause clears, deduplicated across weeks.
* `interventions`: the intervention log (the `interventions` contract table) written when a play is done.
* `effects`: churn and MRR kept among routed vs held-out alerts, with bootstrap-by-account intervals (clean),
  and a doubly robust observational estimate (weaker, labelled so).
* `uplift`: T-, X- and offset learners of who benefits from which play; saved MRR vs risk × MRR work list.
* `shift`: uplift as the churn model's risk × each play's log-odds shift by its playbook signals, fitted on the
  randomised decisions only.
* `weekly`: the week's alert step over the score store, and the printable tables.
"""
