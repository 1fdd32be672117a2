-- Step 8: the full-text indexes are rewritten only when their text changes.
--
-- The projection writes a product or a customer with an upsert that names
-- every column, so `AFTER UPDATE OF name, ...` fired on every edit: a
-- reprice or a new credit limit deleted and re-added the record's terms,
-- with their one-, two- and three-letter prefixes, and each such commit
-- flushed a new full-text segment. The triggers now also require one of
-- the indexed values to differ.

DROP TRIGGER products_fts_au;
CREATE TRIGGER products_fts_au AFTER UPDATE OF name, sku_wanted, barcode_wanted ON products
WHEN old.name IS NOT new.name OR old.sku_wanted IS NOT new.sku_wanted
    OR old.barcode_wanted IS NOT new.barcode_wanted BEGIN
    INSERT INTO product_fts(product_fts, rowid, name, sku, barcode)
    VALUES ('delete', old.rid, old.name, old.sku_wanted, coalesce(old.barcode_wanted, ''));
    INSERT INTO product_fts(rowid, name, sku, barcode)
    VALUES (new.rid, new.name, new.sku_wanted, coalesce(new.barcode_wanted, ''));
END;

DROP TRIGGER customers_fts_au;
CREATE TRIGGER customers_fts_au AFTER UPDATE OF name, phone_wanted ON customers
WHEN old.name IS NOT new.name OR old.phone_wanted IS NOT new.phone_wanted BEGIN
    INSERT INTO customer_fts(customer_fts, rowid, name, phone) VALUES ('delete', old.rid, old.name,
        coalesce(old.phone_wanted || ' ' || replace(replace(replace(old.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
    INSERT INTO customer_fts(rowid, name, phone) VALUES (new.rid, new.name,
        coalesce(new.phone_wanted || ' ' || replace(replace(replace(new.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
END;
