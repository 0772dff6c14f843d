"""The query log: every question, its outcome and the resident's feedback, for staff.

`interface` (QueryReader, QueryLog), `records` (the values), `privacy` (masking, hashing),
`grouping` (similar questions), `migrations` (the schema), `sqlite` (the writer),
`reports` (the read queries and the read-only reader). Never imports matching or Telegram.
"""
