"""Quality and speed tooling (never imported by the running bot): `evaluate` (labelled sets),
`baselines`, `tune` (thresholds), `bench` (speed), `explain_format` (the explain command's
text)."""
