"""The event runtime: encode/decode, builders, publishers (see the modules for each part)."""
