"""Product carbon footprints from the ledger's primary data (ISO 14067:2018, GB/T 24067-2024).

``config`` (the organisation's settings) → ``system`` (ledger year → product system over cited background)
→ ``assess`` (per product: kg CO2e per declared unit, contributions, ISO 14067 split, primary-data share,
data quality, Monte Carlo) → ``service`` (read the ledger, store results with provenance).
See docs/footprints.md.
"""
