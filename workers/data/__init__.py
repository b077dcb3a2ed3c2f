"""Training-side data access over the built shards."""
