"""The REST API base: pagination, error format, permissions, shared views."""
