"""Deadlines, business calendars, the escalation ladder, reviews and the scan."""
