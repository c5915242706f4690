"""Model jobs combining io and model: scoring folders."""
