"""The Telegram front end (python-telegram-bot): the only place `telegram` is imported.

`app` (the Application and its lifecycle), `handlers` (updates -> Service), `staff_commands`,
`context` (typed bot and user data), `sending` (replies as messages), `callback_data` (the
button codec), `redaction` (the token out of the logs).
"""
