"""The one-way pipeline: queue -> rules -> alarm book -> writer -> outbox -> formats -> uplink; commands come back."""
