"""Example callbacks and workflows used by the bundled flows and specs."""
