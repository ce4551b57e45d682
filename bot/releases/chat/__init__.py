"""The release room on Discord: /release commands, phase controls, sign-off reactions."""
