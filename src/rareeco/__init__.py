"""rareeco — carbon, footprint, energy and compliance accounting for the rare-earth industry."""

__version__ = "0.1.0"
