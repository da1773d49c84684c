"""nzeza.store — see DESIGN.md."""
