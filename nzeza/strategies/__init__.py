"""nzeza.strategies — see DESIGN.md."""
