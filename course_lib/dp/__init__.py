"""dp of the course (see DESIGN.md's layout)."""
