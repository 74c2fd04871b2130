"""Platform-side tools (the terminal view, the command signer): used from the command line, never by the runtime."""
