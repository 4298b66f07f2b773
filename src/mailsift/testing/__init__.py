"""Test doubles and pytest fixtures for code that embeds mailsift.

Install with `pip install 'mailsift[testing]'`; the pytest plugin registers itself.
"""
