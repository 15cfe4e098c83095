"""A Python function that does what its input's ``action`` asks, for the host's tests."""

import swirl


def handle(input, ctx):
    action = input.get("action")
    if action == "greet":
        print(f"printing for {input['name']}")
        swirl.log.warn("a warning")
        greeting = swirl.config("GREETING", "Hello")
        return {"message": f"{greeting}, {input['name']}!", "function": ctx.function_name,
                "attempt": ctx.attempt, "missing": swirl.config("MISSING")}
    if action == "count":
        count = swirl.kv.get("count", 0) + 1
        swirl.kv.set("count", count)
        return count
    if action == "forget":
        swirl.kv.delete("count")
        return None
    if action == "emit":
        swirl.emit("order.scored", {"score": 7}, subject="o-1", extensions={"tenant": "t1"})
        return "emitted"
    if action == "fail":
        raise swirl.Failure("OutOfStock", "no more widgets", {"sku": "w-1"})
    if action == "raise":
        return {"ratio": 1 / input["zero"]}
    if action == "loop":
        while True:
            pass
    if action == "bomb":
        chunks = []
        while True:
            chunks.append(bytearray(16 * 1024 * 1024))
    if action == "open":
        with open(input["path"]) as file:
            return file.read()
    if action == "listdir":
        import os
        return os.listdir("/")
    raise swirl.Failure("UnknownAction", f"no action {action!r}")
