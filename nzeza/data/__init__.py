"""nzeza.data — see DESIGN.md."""
