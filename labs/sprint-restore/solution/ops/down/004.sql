-- down of 004_prices_in_cents: prices back in the NUMERIC column price, every row kept
ALTER TABLE items ADD COLUMN price NUMERIC(10, 2) NOT NULL DEFAULT 0;
UPDATE items SET price = price_cents / 100.0;
ALTER TABLE items DROP COLUMN price_cents;
DELETE FROM schema_migrations WHERE version = 4;
