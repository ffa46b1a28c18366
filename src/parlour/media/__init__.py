"""Media outside the browser: the SFU adapter for calls larger than a mesh."""
