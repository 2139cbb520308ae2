"""Cognito PreAuthentication trigger: suspended users may not sign in; every attempt is logged."""
