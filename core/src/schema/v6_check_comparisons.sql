-- A CHECK of the form `x IN ('a', 'b', 'c')` (more than two constants)
-- makes SQLite build a temporary b-tree of the list every time the INSERT
-- or UPDATE statement runs (`OpenEphemeral`, one `IdxInsert` a constant):
-- about 4 microseconds a row, more than the row's own insert, on the
-- tables a sale writes most (lines, movements, ledger entries, payments).
-- The same test written as comparisons joined by OR is evaluated in place.
-- Only the text of the constraints changes: it admits exactly the same
-- values (NULL included), nothing on disk depends on it, and SQLite's
-- documented way to change a CHECK without rebuilding the table is to edit
-- the schema text (https://sqlite.org/lang_altertable.html, "making other
-- kinds of table schema changes"). RESET makes this connection read the
-- edited schema back at once.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''catalog'',''customers'',''journal'',''workshop'',''inbound''))',
    'CHECK (kind = ''catalog'' OR kind = ''customers'' OR kind = ''journal'' OR kind = ''workshop'' OR kind = ''inbound'')')
 WHERE type = 'table' AND name = 'documents';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''product'',''labour'',''part''))',
    'CHECK (kind = ''product'' OR kind = ''labour'' OR kind = ''part'')')
 WHERE type = 'table' AND name = 'invoice_lines';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''invoice'',''advance'',''refund''))',
    'CHECK (kind = ''invoice'' OR kind = ''advance'' OR kind = ''refund'')')
 WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''receipt'',''sale'',''return'',''void'',''adjustment'',''transfer_out'',''transfer_in'',''part_use''))',
    'CHECK (kind = ''receipt'' OR kind = ''sale'' OR kind = ''return'' OR kind = ''void'' OR kind = ''adjustment'' OR kind = ''transfer_out'' OR kind = ''transfer_in'' OR kind = ''part_use'')')
 WHERE type = 'table' AND name = 'stock_movements';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''receipt'',''adjustment'',''transfer''))',
    'CHECK (kind = ''receipt'' OR kind = ''adjustment'' OR kind = ''transfer'')')
 WHERE type = 'table' AND name = 'stock_records';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (category IN (''sale'',''payment'',''advance'',''refund'',''return'',''void''))',
    'CHECK (category = ''sale'' OR category = ''payment'' OR category = ''advance'' OR category = ''refund'' OR category = ''return'' OR category = ''void'')')
 WHERE type = 'table' AND name = 'ledger_entries';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (status IN (''booked'',''in_progress'',''waiting_parts'',''done'',''invoiced'',''cancelled''))',
    'CHECK (status = ''booked'' OR status = ''in_progress'' OR status = ''waiting_parts'' OR status = ''done'' OR status = ''invoiced'' OR status = ''cancelled'')')
 WHERE type = 'table' AND name = 'service_orders';
PRAGMA writable_schema = RESET;
