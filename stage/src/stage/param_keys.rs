//! The dotted config keys a stage's parameters read, from their type alone: serde hands a
//! struct's `Deserialize` its field names, so a stage declares what it reads once, as the
//! fields of its `Params` (a field holding a struct is a section, read key by key).

use std::cell::RefCell;

use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// The leaf keys of `T`, in field order: the paths to every value that is not a struct
/// (a number, a name, a list, a map; an optional value is its content's). Panics where `T`
/// cannot be walked (a `Deserialize` of its own that refuses placeholder values): a
/// stage's parameters are plain derived structs.
pub fn param_keys<T: DeserializeOwned>() -> Vec<String> {
    let keys = RefCell::new(Vec::new());
    if let Err(e) = T::deserialize(Tracer { prefix: String::new(), keys: Some(&keys) }) {
        panic!("the keys of {} cannot be read from its fields: {e}", std::any::type_name::<T>());
    }
    keys.into_inner()
}

/// Walks a type's `Deserialize`: a struct gets its fields one by one, with their paths;
/// anything else is a leaf, recorded (unless `keys` is `None`, inside a leaf) and given a
/// placeholder value so that the walk goes on.
struct Tracer<'a> {
    prefix: String,
    keys: Option<&'a RefCell<Vec<String>>>,
}

impl Tracer<'_> {
    fn leaf(&self) {
        if let Some(keys) = self.keys {
            keys.borrow_mut().push(self.prefix.clone());
        }
    }
}

macro_rules! leaves {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.leaf();
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    leaves! {
        deserialize_any => visit_unit(),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0), deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0), deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0), deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0), deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0), deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('_'),
        deserialize_str => visit_str(""), deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]), deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_seq => visit_seq(de::value::SeqDeserializer::<std::iter::Empty<()>, Error>::new(std::iter::empty())),
        deserialize_map => visit_map(de::value::MapDeserializer::<std::iter::Empty<((), ())>, Error>::new(std::iter::empty())),
        deserialize_identifier => visit_str(""),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_enum(FirstVariant(variants.first().copied().unwrap_or_default()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields { tracer: self, fields, next: 0 })
    }
}

/// A struct's fields, each with the tracer of its path.
struct Fields<'a> {
    tracer: Tracer<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else { return Ok(None) };
        let name: StrDeserializer<Error> = field.into_deserializer();
        seed.deserialize(name).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        let prefix =
            if self.tracer.prefix.is_empty() { field.to_string() } else { format!("{}.{field}", self.tracer.prefix) };
        seed.deserialize(Tracer { prefix, keys: self.tracer.keys })
    }
}

/// An enum's first variant, whatever its content (a leaf's placeholder).
struct FirstVariant(&'static str);

impl<'de> de::EnumAccess<'de> for FirstVariant {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let name: StrDeserializer<Error> = self.0.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for FirstVariant {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(Tracer { prefix: String::new(), keys: None })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(Tracer { prefix: String::new(), keys: None }, len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(Tracer { prefix: String::new(), keys: None }, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde::Deserialize;

    use super::param_keys;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Choice {
        Plain,
        Weighted(f64),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Section {
        size: usize,
        choice: Choice,
        map: BTreeMap<String, String>,
        file: Option<PathBuf>,
        inner: Option<Inner>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    struct Params {
        seed: u64,
        labels: Vec<String>,
        section: Section,
    }

    #[test]
    fn a_params_keys_are_the_paths_to_its_leaves_in_field_order() {
        assert_eq!(
            param_keys::<Params>(),
            ["seed", "labels", "section.size", "section.choice", "section.map", "section.file", "section.inner.flag"]
        );
    }
}
