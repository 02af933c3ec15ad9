-- The done-ledger's time defaults to the transaction's: a batch whose objects are
-- all new is COPied straight into the table (see copy_new_ledger_rows), and COPY
-- takes literal data only, not now().

ALTER TABLE done_ledger ALTER COLUMN updated_at SET DEFAULT now();
