-- down of 003_items_name_search: the search index goes, the data stays
DROP INDEX IF EXISTS items_name_lower_idx;
DELETE FROM schema_migrations WHERE version = 3;
