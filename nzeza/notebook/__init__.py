"""nzeza.notebook — see DESIGN.md."""
