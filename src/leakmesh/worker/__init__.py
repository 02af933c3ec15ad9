"""Worker process: launch configuration, composition root, telemetry, exit codes."""
