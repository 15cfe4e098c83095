"""Greets whoever the input names, with the greeting the manifest configures."""

import swirl


def handle(input, ctx):
    name = input.get("name", "") if isinstance(input, dict) else ""
    if not isinstance(name, str) or not name.strip():
        raise swirl.Failure("EmptyName", "the input's 'name' is empty; say who to greet")
    swirl.log.info(f"greeting {name}")
    return {"message": f"{swirl.config('GREETING', 'Hello')}, {name}!"}
