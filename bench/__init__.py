"""The benchmark: tool-call accuracy (our cases and BFCL) and speed, per engine and mode. See README.md."""
