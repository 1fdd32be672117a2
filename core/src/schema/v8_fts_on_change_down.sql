DROP TRIGGER products_fts_au;
CREATE TRIGGER products_fts_au AFTER UPDATE OF name, sku_wanted, barcode_wanted ON products BEGIN
    INSERT INTO product_fts(product_fts, rowid, name, sku, barcode)
    VALUES ('delete', old.rid, old.name, old.sku_wanted, coalesce(old.barcode_wanted, ''));
    INSERT INTO product_fts(rowid, name, sku, barcode)
    VALUES (new.rid, new.name, new.sku_wanted, coalesce(new.barcode_wanted, ''));
END;

DROP TRIGGER customers_fts_au;
CREATE TRIGGER customers_fts_au AFTER UPDATE OF name, phone_wanted ON customers BEGIN
    INSERT INTO customer_fts(customer_fts, rowid, name, phone) VALUES ('delete', old.rid, old.name,
        coalesce(old.phone_wanted || ' ' || replace(replace(replace(old.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
    INSERT INTO customer_fts(rowid, name, phone) VALUES (new.rid, new.name,
        coalesce(new.phone_wanted || ' ' || replace(replace(replace(new.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
END;
