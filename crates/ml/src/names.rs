//! Enums that are stored and written by name (in the stack, the jobs' settings, run records):
//! [`named!`] gives one its names, a `Display` that writes the name and a `FromStr` that reads it
//! back, with an error that names the value and every accepted one.

/// `named!(Type, "what it is", { Variant => "name", ... })`: `Type::ALL`, `Type::NAMES` (in the
/// same order), `name()`, `Display` and `FromStr`. The names must match the type's serde names.
macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// The names, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<String> =
                        $ty::NAMES.iter().map(|n| format!("`{n}`")).collect();
                    format!("`{s}` is not {}: expected one of {}", $what, names.join(", "))
                })
            }
        }
    };
}

pub(crate) use named;
