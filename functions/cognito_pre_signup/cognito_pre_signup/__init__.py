"""Cognito PreSignUp trigger: only e-mail domains on the allow-list may sign up."""
