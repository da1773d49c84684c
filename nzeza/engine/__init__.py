"""nzeza.engine — see DESIGN.md."""
