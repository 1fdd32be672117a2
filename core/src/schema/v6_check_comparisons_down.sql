PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind = ''catalog'' OR kind = ''customers'' OR kind = ''journal'' OR kind = ''workshop'' OR kind = ''inbound'')',
    'CHECK (kind IN (''catalog'',''customers'',''journal'',''workshop'',''inbound''))')
 WHERE type = 'table' AND name = 'documents';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind = ''product'' OR kind = ''labour'' OR kind = ''part'')',
    'CHECK (kind IN (''product'',''labour'',''part''))')
 WHERE type = 'table' AND name = 'invoice_lines';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind = ''invoice'' OR kind = ''advance'' OR kind = ''refund'')',
    'CHECK (kind IN (''invoice'',''advance'',''refund''))')
 WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind = ''receipt'' OR kind = ''sale'' OR kind = ''return'' OR kind = ''void'' OR kind = ''adjustment'' OR kind = ''transfer_out'' OR kind = ''transfer_in'' OR kind = ''part_use'')',
    'CHECK (kind IN (''receipt'',''sale'',''return'',''void'',''adjustment'',''transfer_out'',''transfer_in'',''part_use''))')
 WHERE type = 'table' AND name = 'stock_movements';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind = ''receipt'' OR kind = ''adjustment'' OR kind = ''transfer'')',
    'CHECK (kind IN (''receipt'',''adjustment'',''transfer''))')
 WHERE type = 'table' AND name = 'stock_records';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (category = ''sale'' OR category = ''payment'' OR category = ''advance'' OR category = ''refund'' OR category = ''return'' OR category = ''void'')',
    'CHECK (category IN (''sale'',''payment'',''advance'',''refund'',''return'',''void''))')
 WHERE type = 'table' AND name = 'ledger_entries';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (status = ''booked'' OR status = ''in_progress'' OR status = ''waiting_parts'' OR status = ''done'' OR status = ''invoiced'' OR status = ''cancelled'')',
    'CHECK (status IN (''booked'',''in_progress'',''waiting_parts'',''done'',''invoiced'',''cancelled''))')
 WHERE type = 'table' AND name = 'service_orders';
PRAGMA writable_schema = RESET;
