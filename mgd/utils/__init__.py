"""What the tools need around a run: config loading and its checks, launch set-up, checkpoint
reading, the stack fixes, file writing. Nothing here imports ``mgd.models``."""
