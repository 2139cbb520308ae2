"""WsAuthorizer: the WebSocket $connect REQUEST authorizer (a Cognito access token offered as a subprotocol)."""
