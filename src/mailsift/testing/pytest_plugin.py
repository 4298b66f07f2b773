"""pytest fixtures that start mailsift's test doubles on loopback."""
