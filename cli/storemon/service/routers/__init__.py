"""One router per concern: ingestion (stores and polls in) and reports (out)."""
