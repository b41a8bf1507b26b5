#!/bin/bash
# Shortcut: the previous sprint is put back correctly, by hand (schema converted in place, deploy
# tool), but nothing is automated in /srv/ops: the perturbing checks must fail, below pass.
set -euo pipefail
target=$(ssh -n -o BatchMode=yes deploy@prod "awk '{print \$1}' /srv/releases/index" | sort -n | tail -n 2 | head -n 1)
ssh -o BatchMode=yes deploy@prod 'set -a; . /etc/shop/db.env; set +a; psql -qX -v ON_ERROR_STOP=1 --single-transaction "$SHOP_DB"' <<'SQL'
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM schema_migrations WHERE version = 4) THEN
    ALTER TABLE items ADD COLUMN price NUMERIC(10, 2) NOT NULL DEFAULT 0;
    UPDATE items SET price = price_cents / 100.0;
    ALTER TABLE items DROP COLUMN price_cents;
    DELETE FROM schema_migrations WHERE version = 4;
  END IF;
END $$;
SQL
ssh -n -o BatchMode=yes deploy@prod "sudo shop-deploy $target"
