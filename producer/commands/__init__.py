"""One module per ``diskferry`` command; ``diskferry.producer.cli`` wires them into the group."""
