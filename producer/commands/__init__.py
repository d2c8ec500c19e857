"""One module per ``diskferry`` command; ``producer.cli`` wires them into the group."""
