"""nzeza.feeds — see DESIGN.md."""
