DROP TRIGGER stock_values_product_au;
DROP TRIGGER stock_values_product_ad;
DROP TRIGGER stock_values_product_ai;
DROP TRIGGER stock_values_ad;
DROP TRIGGER stock_values_au;
DROP TRIGGER stock_values_ai;
DROP INDEX idx_stock_levels_product_qty;
DROP TABLE stock_values;
