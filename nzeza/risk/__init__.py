"""nzeza.risk — see DESIGN.md."""
