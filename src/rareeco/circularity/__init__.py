"""Recycled content of magnets (EU CRMA Art. 29) from the scrap mass balance of the recycling line."""
