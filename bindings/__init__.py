"""deepcnt.bindings: the outside world (graph libraries, torch, files, the CLI). Imports are lazy."""
