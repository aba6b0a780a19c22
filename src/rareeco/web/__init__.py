"""The web platform: pages, templates, translations and static assets (see :mod:`rareeco.web.app`)."""
