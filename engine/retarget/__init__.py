"""Retargeting between skeletons and foot-contact-pinned IK on the target rig (numpy only)."""
