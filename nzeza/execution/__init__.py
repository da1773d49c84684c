"""nzeza.execution — see DESIGN.md."""
