"""ApiIngest: POST /quotes - validate quotes with the shared model, then write them to the stream."""
