"""Staff tooling over the query log: `report`, `suggest`, `web` (the Datasette page), terminal
`tables`, and `texts` (what staff read in Telegram). Never imports the bot layer."""
