"""One module per CRM target; each turns a planned batch into the CRM's request and reads its answer."""
