"""Fleet operations (SPEC §8) used by workers and hubs alike: so far the retry
policy."""
