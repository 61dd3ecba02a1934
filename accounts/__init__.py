"""The people who use spreview: Entra sign-in, the break-glass password, Admin/Auditor roles."""
