"""The deterministic demo organisation: its structure (``organisation.toml``) and the generator of its
monthly activity data (:mod:`rareeco.demo.generate`).  Every figure is invented for the demo unless
``docs/demo.md`` names its source."""
