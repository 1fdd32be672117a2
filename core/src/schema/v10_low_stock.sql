-- Step 10: each branch's low-stock products, kept.
--
-- The low-stock list walked every product by name and looked its stock up
-- until a page of low ones was found: 50,000 products and 36 ms at
-- terminal scale, where a few hundred are low. This table holds exactly
-- the pairs that list shows, so a page is a walk of 50 index entries.
--
-- A product is low at a branch when it is active and its stock there is at
-- or below its minimum; a product never stocked at a branch counts 0 there,
-- so it is low (a minimum is never negative). The pairs are kept for the
-- branches that have stock levels (`stock_branches`): a branch's first
-- stock level adds every other active product as never stocked. A branch
-- with no stock level at all is not kept: every active product is low
-- there, and the query walks the products instead, which stops after a
-- page.

CREATE TABLE stock_branches (
    branch_id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE low_stock (
    branch_id  TEXT NOT NULL,
    product_id TEXT NOT NULL,
    name       TEXT NOT NULL,  -- the product's, for the list's order
    PRIMARY KEY (product_id, branch_id)
) WITHOUT ROWID;

CREATE INDEX idx_low_stock_branch_name ON low_stock(branch_id, name COLLATE NOCASE, product_id);

-- A stock level appears: at a branch new to stock, every other active
-- product becomes low as never stocked; then this product is placed by its
-- quantity.
CREATE TRIGGER low_stock_levels_ai AFTER INSERT ON stock_levels BEGIN
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT new.branch_id, p.id, p.name FROM products p
    WHERE p.status = 'active' AND p.id <> new.product_id
      AND NOT EXISTS (SELECT 1 FROM stock_branches WHERE branch_id = new.branch_id);
    INSERT INTO stock_branches(branch_id)
    SELECT new.branch_id WHERE NOT EXISTS (SELECT 1 FROM stock_branches WHERE branch_id = new.branch_id);
    DELETE FROM low_stock WHERE product_id = new.product_id AND branch_id = new.branch_id;
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT new.branch_id, p.id, p.name FROM products p
    WHERE p.id = new.product_id AND p.status = 'active' AND new.qty <= p.min_stock;
END;

-- A movement crosses the minimum (most do not: one product lookup).
CREATE TRIGGER low_stock_levels_au AFTER UPDATE OF qty ON stock_levels
WHEN EXISTS (SELECT 1 FROM products p WHERE p.id = new.product_id AND p.status = 'active'
             AND (old.qty <= p.min_stock) <> (new.qty <= p.min_stock)) BEGIN
    DELETE FROM low_stock WHERE product_id = new.product_id AND branch_id = new.branch_id;
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT new.branch_id, p.id, p.name FROM products p
    WHERE p.id = new.product_id AND new.qty <= p.min_stock;
END;

-- A stock level goes: the product is never stocked there again.
CREATE TRIGGER low_stock_levels_ad AFTER DELETE ON stock_levels BEGIN
    DELETE FROM low_stock WHERE product_id = old.product_id AND branch_id = old.branch_id;
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT old.branch_id, p.id, p.name FROM products p
    WHERE p.id = old.product_id AND p.status = 'active'
      AND EXISTS (SELECT 1 FROM stock_branches WHERE branch_id = old.branch_id);
END;

-- A product arrives, or its name, minimum or status change: placed again
-- at every kept branch (its stock may have arrived before it did).
CREATE TRIGGER low_stock_products_ai AFTER INSERT ON products WHEN new.status = 'active' BEGIN
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT b.branch_id, new.id, new.name FROM stock_branches b
    LEFT JOIN stock_levels s ON s.product_id = new.id AND s.branch_id = b.branch_id
    WHERE coalesce(s.qty, 0) <= new.min_stock;
END;

CREATE TRIGGER low_stock_products_au AFTER UPDATE OF name, min_stock, status ON products
WHEN old.name IS NOT new.name OR old.min_stock IS NOT new.min_stock
    OR old.status IS NOT new.status BEGIN
    DELETE FROM low_stock WHERE product_id = old.id;
    INSERT INTO low_stock(branch_id, product_id, name)
    SELECT b.branch_id, new.id, new.name FROM stock_branches b
    LEFT JOIN stock_levels s ON s.product_id = new.id AND s.branch_id = b.branch_id
    WHERE new.status = 'active' AND coalesce(s.qty, 0) <= new.min_stock;
END;

CREATE TRIGGER low_stock_products_ad AFTER DELETE ON products BEGIN
    DELETE FROM low_stock WHERE product_id = old.id;
END;

-- ---------------------------------------------------------------- existing data
INSERT INTO stock_branches SELECT DISTINCT branch_id FROM stock_levels;
INSERT INTO low_stock
SELECT b.branch_id, p.id, p.name
FROM stock_branches b CROSS JOIN products p
LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = b.branch_id
WHERE p.status = 'active' AND coalesce(s.qty, 0) <= p.min_stock;
