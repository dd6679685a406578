//! `#[derive(Fingerprint)]` for plugbus message types.
//!
//! Use it through `plugbus-core` (feature `derive`), which re-exports it next
//! to the trait (the runnable example is there):
//!
//! ```text
//! #[derive(plugbus_core::Fingerprint)]
//! enum Command {
//!     Say(String),
//!     Stop,
//! }
//! ```
//!
//! The derive writes the type's definition as canonical text (its kind,
//! name, generic parameters, `repr` attributes, and every variant and field
//! in order with its name, explicit discriminant and type as written), hashes
//! it at compile time with `plugbus_core::ffi::fingerprint::hash_str`, and
//! folds in the `FINGERPRINT` of every field type, so a change in a nested
//! type changes the outer fingerprint too. Doc comments and other attributes
//! are left out: they do not change the layout. See the `Fingerprint` trait in
//! plugbus-core for what this covers and what it cannot.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, quote};
use syn::{Data, DeriveInput, Fields, Ident, Type, parse_macro_input, parse_quote};

/// Implements `plugbus_core::Fingerprint` by hashing the type's definition
/// and combining the fingerprints of its field types.
///
/// Every field type must implement `Fingerprint`; a type parameter gets a
/// `Fingerprint` bound. In a field whose type names the type itself (a
/// recursive `Vec<(Box<Self>, Payload)>`), every type but the recursive
/// reference is folded in (`Payload` here), and the recursive reference
/// counts as a fixed placeholder, since its fingerprint would depend on
/// itself.
///
/// The impl it writes is an `unsafe impl`: the derive keeps the trait's
/// promise by hashing the whole definition and requiring `Fingerprint` of
/// every field type.
#[proc_macro_derive(Fingerprint)]
pub fn derive_fingerprint(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<TokenStream2> {
    let ident = input.ident.clone();
    let mut text = String::new();
    let mut field_types: Vec<TokenStream2> = Vec::new();

    match &input.data {
        Data::Struct(data) => {
            text.push_str("struct ");
            push_header(&mut text, &input);
            push_fields(&mut text, &data.fields, &ident, &mut field_types)?;
        }
        Data::Enum(data) => {
            text.push_str("enum ");
            push_header(&mut text, &input);
            text.push('{');
            for variant in &data.variants {
                text.push_str(&variant.ident.to_string());
                push_fields(&mut text, &variant.fields, &ident, &mut field_types)?;
                if let Some((_, discriminant)) = &variant.discriminant {
                    text.push('=');
                    text.push_str(&canonical(discriminant.to_token_stream()));
                }
                text.push(',');
            }
            text.push('}');
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "Fingerprint cannot be derived for a union: plugbus cannot tell which field is live; implement it by hand",
            ));
        }
    }

    let params: Vec<Ident> = input
        .generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    let where_clause = input.generics.make_where_clause();
    for param in &params {
        where_clause
            .predicates
            .push(parse_quote!(#param: ::plugbus_core::Fingerprint));
    }
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let name = ident.to_string();

    Ok(quote! {
        #[automatically_derived]
        // SAFETY: the fingerprint hashes the whole definition and folds in
        // the fingerprint of every field type, each of which keeps the
        // trait's promise itself.
        unsafe impl #impl_generics ::plugbus_core::Fingerprint for #ident #type_generics #where_clause {
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name);
            const FINGERPRINT: u64 = ::plugbus_core::ffi::fingerprint::combine_all(
                ::plugbus_core::ffi::fingerprint::combine(
                    ::plugbus_core::ffi::fingerprint::hash_str(<Self as ::plugbus_core::Fingerprint>::NAME),
                    ::plugbus_core::ffi::fingerprint::hash_str(#text),
                ),
                &[#(#field_types),*],
            );
        }
    })
}

/// Name, generic parameters with their bounds, where clause and `repr`.
fn push_header(text: &mut String, input: &DeriveInput) {
    text.push_str(&input.ident.to_string());
    text.push_str(&canonical(input.generics.to_token_stream()));
    if let Some(where_clause) = &input.generics.where_clause {
        text.push_str(&canonical(where_clause.to_token_stream()));
    }
    for attribute in &input.attrs {
        if attribute.path().is_ident("repr") {
            text.push_str(&canonical(attribute.to_token_stream()));
        }
    }
}

fn push_fields(
    text: &mut String,
    fields: &Fields,
    own: &Ident,
    fingerprints: &mut Vec<TokenStream2>,
) -> syn::Result<()> {
    let (open, close) = match fields {
        Fields::Named(_) => ('{', '}'),
        Fields::Unnamed(_) => ('(', ')'),
        Fields::Unit => return Ok(()),
    };
    text.push(open);
    for field in fields {
        if let Some(name) = &field.ident {
            text.push_str(&name.to_string());
            text.push(':');
        }
        let ty = canonical(field.ty.to_token_stream());
        text.push_str(&ty);
        text.push(',');
        fold_type(&field.ty, own, fingerprints)?;
    }
    text.push(close);
    Ok(())
}

/// The fingerprints a field type contributes, in order: its own if it does
/// not name the type being derived; otherwise those of every type inside it
/// that does not, with a fixed placeholder for each recursive reference.
/// (The written type is hashed with the definition, so the shape around the
/// parts is covered too.)
fn fold_type(ty: &Type, own: &Ident, out: &mut Vec<TokenStream2>) -> syn::Result<()> {
    if !mentions(ty.to_token_stream(), own) {
        out.push(quote!(<#ty as ::plugbus_core::Fingerprint>::FINGERPRINT));
        return Ok(());
    }
    match ty {
        Type::Path(path) => {
            if let Some(qself) = &path.qself {
                fold_type(&qself.ty, own, out)?;
            }
            let last = path.path.segments.last();
            if last.is_some_and(|segment| segment.ident == *own || segment.ident == "Self") {
                out.push(quote!(::plugbus_core::ffi::fingerprint::hash_str(
                    "<recursive>"
                )));
            }
            for segment in &path.path.segments {
                if let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments {
                    for argument in &arguments.args {
                        if let syn::GenericArgument::Type(inner) = argument {
                            fold_type(inner, own, out)?;
                        }
                    }
                }
            }
            Ok(())
        }
        Type::Tuple(tuple) => tuple
            .elems
            .iter()
            .try_for_each(|inner| fold_type(inner, own, out)),
        Type::Array(array) => fold_type(&array.elem, own, out),
        Type::Slice(slice) => fold_type(&slice.elem, own, out),
        Type::Paren(paren) => fold_type(&paren.elem, own, out),
        Type::Group(group) => fold_type(&group.elem, own, out),
        // References, pointers, function pointers and trait objects have no
        // `Fingerprint`: a message owns its data.
        other => Err(syn::Error::new_spanned(
            other,
            "this field cannot cross a plugin boundary: references, pointers, function pointers and trait objects have no `Fingerprint`; a message owns its data (use `Box`, `Vec`, `String`)",
        )),
    }
}

/// Whether a type names `Self` or the type being derived (recursion).
fn mentions(tokens: TokenStream2, own: &Ident) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == *own || ident == "Self",
        TokenTree::Group(group) => mentions(group.stream(), own),
        _ => false,
    })
}

/// Tokens as text with one space between tokens, independent of how the
/// source was laid out.
fn canonical(tokens: TokenStream2) -> String {
    let mut out = String::new();
    write_canonical(tokens, &mut out);
    out
}

fn write_canonical(tokens: TokenStream2, out: &mut String) {
    for tree in tokens {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Brace => ("{", "}"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_canonical(group.stream(), out);
                out.push_str(close);
                out.push(' ');
            }
            other => {
                out.push_str(&other.to_string());
                out.push(' ');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(input: DeriveInput) -> String {
        expand(input).unwrap().to_string()
    }

    #[test]
    fn layout_and_docs_do_not_matter() {
        let a = expanded(parse_quote! {
            enum Command { Say(String), Stop }
        });
        let b = expanded(parse_quote! {
            /// Documented.
            #[derive(Debug)]
            enum Command {
                /// Says it.
                Say(
                    String
                ),
                Stop,
            }
        });
        assert_eq!(a, b);
    }

    #[test]
    fn every_change_of_definition_matters() {
        let base = expanded(parse_quote! {
            #[repr(u8)]
            enum Command { Say { text: String, loud: bool } = 1, Stop = 2 }
        });
        let changed: [DeriveInput; 6] = [
            parse_quote! { #[repr(u8)] enum Command { Stop = 2, Say { text: String, loud: bool } = 1 } },
            parse_quote! { #[repr(u8)] enum Command { Say { words: String, loud: bool } = 1, Stop = 2 } },
            parse_quote! { #[repr(u8)] enum Command { Say { text: String, loud: u8 } = 1, Stop = 2 } },
            parse_quote! { #[repr(u8)] enum Command { Say { text: String, loud: bool } = 1, Stop = 3 } },
            parse_quote! { #[repr(u16)] enum Command { Say { text: String, loud: bool } = 1, Stop = 2 } },
            parse_quote! { #[repr(u8)] enum Command { Say { loud: bool, text: String } = 1, Stop = 2 } },
        ];
        for input in changed {
            assert_ne!(expanded(input), base);
        }
    }

    #[test]
    fn recursive_fields_fold_every_other_type() {
        let tree = expanded(parse_quote! {
            struct Tree { value: u32, children: Vec<Tree>, parent: Option<Box<Self>> }
        });
        assert!(tree.contains("< u32 as :: plugbus_core :: Fingerprint > :: FINGERPRINT"));
        assert!(!tree.contains("< Vec < Tree > as"));
        assert!(!tree.contains("< Option < Box < Self > > as"));
        assert_eq!(tree.matches("\"<recursive>\"").count(), 2, "{tree}");

        // Issue 17: the payload next to a recursive reference was dropped.
        let list = expanded(parse_quote! {
            struct List { items: Vec<(Box<List>, Payload)> }
        });
        assert!(
            list.contains("< Payload as :: plugbus_core :: Fingerprint > :: FINGERPRINT"),
            "{list}"
        );
        assert_eq!(list.matches("\"<recursive>\"").count(), 1, "{list}");
    }

    #[test]
    fn recursive_borrows_are_refused() {
        let input: DeriveInput = parse_quote! { struct Node { next: &'static Node } };
        let error = expand(input).unwrap_err().to_string();
        assert!(error.contains("cannot cross a plugin boundary"), "{error}");
    }

    #[test]
    fn unions_are_refused() {
        let input: DeriveInput = parse_quote! { union U { a: u32, b: f32 } };
        assert!(expand(input).is_err());
    }
}
