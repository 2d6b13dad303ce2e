"""The shared kernel: the small things every room needs (errors, ids, clock, tokens,
config, telemetry, the gRPC error boundary). It imports no room."""
