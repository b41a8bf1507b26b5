"""The company's web shop: a small HTTP API over an items table."""
