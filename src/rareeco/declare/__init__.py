"""Declarations made from the footprint results: PACT product footprints, EPDs."""
