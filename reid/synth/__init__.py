"""The synthetic vehicle world: sprites, re-ID datasets in real on-disk layouts, and multi-camera videos with truth."""
