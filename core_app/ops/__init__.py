"""Operations: start-up commands (admin account, AWS resources, keys, readiness) and demo data."""
