"""The shared layer for outside APIs: `http` (pooled client, retries, errors, call records), `ratelimit`
(limits across processes and machines) and `cache` (results by input hash)."""
