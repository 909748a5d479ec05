"""The state-machine core: items, events, authorization, joint handling; no adapters."""
