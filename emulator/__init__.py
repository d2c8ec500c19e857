"""The local Azure: an HTTPS emulator of the Azure operations diskferry uses.

Runtime code never imports this package; tests, benchmarks and the demo start it as a
subprocess (see ``diskferry.emulator.testing``) and drive it with the unchanged Azure SDKs.
"""
