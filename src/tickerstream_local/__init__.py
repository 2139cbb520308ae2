"""tickerstream's local stack: template.yaml's resources on moto, with the template's semantics."""
