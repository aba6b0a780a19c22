"""The ledger: organisations, sites, lines, products, meters, activity records, batches, results."""
