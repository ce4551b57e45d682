"""The Discord kernel, no feature code: the client, custom ids, layout, failures, roles, kit.

Features put their cogs in `bot/<feature>/chat/`; `bot.app` lists them in load order.
"""
