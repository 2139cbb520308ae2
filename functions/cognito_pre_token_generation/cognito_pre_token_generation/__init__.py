"""Cognito PreTokenGeneration trigger (V2_0): tickerstream:tier claim and the users' read scope."""
