"""WsConnections: the board's WebSocket routes ($connect, $disconnect, subscribe, unsubscribe, $default)."""
