"""nzeza.venues — see DESIGN.md."""
