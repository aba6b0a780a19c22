"""Time series: raw interval points and their hourly, daily and monthly roll-ups (docs/meters.md)."""
