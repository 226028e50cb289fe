"""Start the addonmock emulator from Python, drive its /_mock control plane, and get official-SDK clients pointed
at it. The pytest plugin (`addonmock.pytest_plugin`, registered as the `addonmock` pytest11 entry point) builds on
this."""
from .server import AddonMockError, AddonMockServer, bundled_binary, find_binary

__all__ = ["AddonMockError", "AddonMockServer", "bundled_binary", "find_binary"]
