"""nzeza.research — see DESIGN.md."""
