"""Cognito PostAuthentication trigger: audit log of successful sign-ins and the SuccessfulSignIns metric."""
