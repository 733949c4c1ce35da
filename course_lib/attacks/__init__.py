"""attacks of the course (see docs/architecture.md)."""
