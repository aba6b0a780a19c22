"""Energy management under ISO 50001: regression baselines (US DOE EnPI / ORNL VERIFI validity rules), degree-days,
savings with ASHRAE Guideline 14 uncertainty and CUSUM; later EnPIs, meters, measures and quota checks
(REFERENCE.md §7)."""
