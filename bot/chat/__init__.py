"""The Discord adapter: the client, the /release commands, the release room and its controls.

Public modules defining `async def setup(bot)` are chat extensions, loaded at start-up
(see `bot.chat.client.discover_extensions`). Rendering (`render`, `summary`, `layout`) is
pure; everything that talks to Discord goes through `ReleaseService`, never the store.
"""
