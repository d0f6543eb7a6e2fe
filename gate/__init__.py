"""Gatehouse: security-post system for residential estates."""
