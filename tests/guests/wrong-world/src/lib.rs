//! A component for a world other than swirl's `function` world.

wit_bindgen::generate!({ path: "wit", world: "other" });

struct Other;

impl Guest for Other {
    fn run(input: String) -> String {
        input
    }
}

export!(Other);
