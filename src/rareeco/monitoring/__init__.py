"""Air and water compliance: CEMS processing (HJ 75), limits and alarms, zero-liquid-discharge balance."""
