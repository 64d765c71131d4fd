//! Procedural macros of the `iotests` crate. Use them through `iotests`
//! (`#[iotests::test_case]`), which documents them.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Token, Type};

mod hoist;

/// `#[iotests::test_case]` on the `impl` block of a unittest-style test
/// class. See `iotests::unittest` for the whole story.
#[proc_macro_attribute]
pub fn test_case(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as ClassArgs);
    let item = syn::parse_macro_input!(item as ItemImpl);
    match expand(args, item) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `extends = Base, without = [test_a, test_b]`.
#[derive(Default)]
struct ClassArgs {
    extends: Option<syn::Path>,
    without: Vec<Ident>,
}

impl Parse for ClassArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = ClassArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "extends" => args.extends = Some(input.parse()?),
                "without" => {
                    let content;
                    syn::bracketed!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                    args.without = names.into_iter().collect();
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown test_case argument `{other}` (extends, without)"),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// How a user function is called: with or without `t`, with the default
/// values of its `#[default(…)]` parameters, returning a `Result` or not.
struct Shape {
    /// What to pass after `self`, in order: `None` for `t`, else a
    /// parameter's default value.
    args: Vec<Option<Expr>>,
    returns_result: bool,
}

/// Read `f`'s signature, taking the `#[default(value)]` attributes off its
/// parameters (Python's `def test_cycle(self, read_only_node=False)`, which
/// unittest calls without arguments).
fn shape(f: &mut ImplItemFn, wants_self: bool) -> syn::Result<Shape> {
    let has_self = matches!(f.sig.inputs.first(), Some(FnArg::Receiver(_)));
    if has_self != wants_self {
        let what = if wants_self { "take `&mut self`" } else { "not take `self`" };
        return Err(syn::Error::new(f.sig.span(), format!("`{}` must {what}", f.sig.ident)));
    }
    let mut args = Vec::new();
    for input in f.sig.inputs.iter_mut().skip(usize::from(has_self)) {
        let FnArg::Typed(param) = input else { continue };
        let mut default = None;
        let mut kept = Vec::new();
        for attr in param.attrs.drain(..) {
            if attr.path().is_ident("default") {
                default = Some(attr.parse_args::<Expr>()?);
            } else {
                kept.push(attr);
            }
        }
        param.attrs = kept;
        args.push(default);
    }
    if args.iter().filter(|a| a.is_none()).count() > 1 {
        return Err(syn::Error::new(
            f.sig.inputs.span(),
            format!(
                "`{}` takes at most one argument besides self (`t: &Case`) and those with a `#[default(value)]`; \
                 unittest calls it without arguments — a helper that needs more should not be named `test*`",
                f.sig.ident
            ),
        ));
    }
    let returns_result = match &f.sig.output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => !is_self_type(ty),
    };
    Ok(Shape { args, returns_result })
}

fn is_self_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident("Self"))
}

/// The call of a renamed user function inside the generated trait method.
fn call(recv: TokenStream2, name: &Ident, s: &Shape, wrap_ok: bool) -> TokenStream2 {
    let recv = if recv.is_empty() { None } else { Some(recv) };
    let args = recv.into_iter().chain(s.args.iter().map(|a| match a {
        None => quote!(t),
        Some(default) => quote!(#default),
    }));
    let c = quote!(Self::#name(#(#args),*));
    if s.returns_result || !wrap_ok { c } else { quote!({ #c; ::std::result::Result::Ok(()) }) }
}

/// A method's iotests / unittest decorators, in source order.
#[derive(Default)]
struct Decorators {
    /// Checks run on the case after setUp (iotests' decorators): code that
    /// evaluates to `Result<bool>` (false: return Ok without running).
    checks: Vec<TokenStream2>,
    /// unittest's skip decorators: code that evaluates to `Option<String>`
    /// before setUp.
    skips: Vec<TokenStream2>,
    expected_failure: bool,
    doc: Option<String>,
}

struct SkipIfUnsupported {
    formats: Expr,
    read_only: bool,
}

impl Parse for SkipIfUnsupported {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let formats: Expr = input.parse()?;
        let mut read_only = false;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            if key != "read_only" {
                return Err(syn::Error::new(key.span(), "expected `read_only` or `read_only = <bool>`"));
            }
            read_only = true;
            if input.parse::<Option<Token![=]>>()?.is_some() {
                let v: syn::LitBool = input.parse()?;
                read_only = v.value;
            }
        }
        Ok(SkipIfUnsupported { formats, read_only })
    }
}

struct CondReason {
    cond: Expr,
    reason: Expr,
}

impl Parse for CondReason {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let cond = input.parse()?;
        input.parse::<Token![,]>()?;
        let reason = input.parse()?;
        Ok(CondReason { cond, reason })
    }
}

const DECORATORS: &[&str] = &[
    "skip_if_unsupported",
    "skip_for_formats",
    "skip_if_user_is_root",
    "skip",
    "skip_if",
    "skip_unless",
    "expected_failure",
];

/// Take the decorator attributes off `attrs` (and read the doc comment).
fn take_decorators(attrs: &mut Vec<Attribute>, krate: &TokenStream2) -> syn::Result<Decorators> {
    let mut d = Decorators::default();
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        let path = attr.path();
        if path.is_ident("doc") {
            if d.doc.is_none()
                && let syn::Meta::NameValue(nv) = &attr.meta
                && let Expr::Lit(l) = &nv.value
                && let syn::Lit::Str(s) = &l.lit
            {
                let line = s.value().trim().to_string();
                if !line.is_empty() {
                    d.doc = Some(line);
                }
            }
            kept.push(attr);
            continue;
        }
        let Some(name) = path.get_ident().map(Ident::to_string).filter(|n| DECORATORS.contains(&n.as_str())) else {
            kept.push(attr);
            continue;
        };
        let span = attr.span();
        match name.as_str() {
            "skip_if_unsupported" => {
                let a: SkipIfUnsupported = attr.parse_args()?;
                let (f, ro) = (a.formats, a.read_only);
                d.checks.push(quote_spanned!(span=> #krate::unittest::decorators::skip_if_unsupported(t, &#f, #ro)));
            }
            "skip_for_formats" => {
                let f: Expr = attr.parse_args()?;
                d.checks.push(quote_spanned!(span=> #krate::unittest::decorators::skip_for_formats(t, &#f)));
            }
            "skip_if_user_is_root" => {
                attr.meta.require_path_only()?;
                d.checks.push(quote_spanned!(span=> #krate::unittest::decorators::skip_if_user_is_root(t)));
            }
            "skip" => {
                let reason: Expr = attr.parse_args()?;
                d.skips.push(
                    quote_spanned!(span=> ::std::option::Option::Some(::std::string::ToString::to_string(&#reason))),
                );
            }
            "skip_if" | "skip_unless" => {
                let CondReason { cond, reason } = attr.parse_args()?;
                let cond = if name == "skip_if" { quote!(#cond) } else { quote!(!(#cond)) };
                d.skips.push(quote_spanned!(span=>
                    if #cond { ::std::option::Option::Some(::std::string::ToString::to_string(&#reason)) } else { ::std::option::Option::None }
                ));
            }
            "expected_failure" => {
                attr.meta.require_path_only()?;
                d.expected_failure = true;
            }
            _ => unreachable!(),
        }
    }
    *attrs = kept;
    Ok(d)
}

fn checks_code(d: &Decorators) -> TokenStream2 {
    let checks = &d.checks;
    quote! {
        #( if !(#checks)? { return ::std::result::Result::Ok(()); } )*
    }
}

fn expand(args: ClassArgs, mut item: ItemImpl) -> syn::Result<TokenStream2> {
    if let Some((path, _)) = &item.trait_ {
        return Err(syn::Error::new(path.span(), "#[test_case] goes on an inherent `impl Class { … }` block"));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(item.generics.span(), "#[test_case] classes cannot be generic"));
    }
    let krate = quote!(::iotests);
    let self_ty = item.self_ty.clone();
    if args.extends.is_some() {
        hoist::hoist_arguments(&mut item);
    }

    let mut new_fn = None;
    let mut set_up = None;
    let mut tear_down = None;
    let mut set_up_class = None;
    let mut tear_down_class = None;
    let mut tests = Vec::new();

    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let name = f.sig.ident.to_string();
        let hidden = |f: &mut ImplItemFn| {
            let new_ident = format_ident!("__iotests_{}", f.sig.ident);
            f.sig.ident = new_ident.clone();
            f.attrs.push(syn::parse_quote!(#[doc(hidden)]));
            new_ident
        };
        match name.as_str() {
            "new" => {
                let s = shape(f, false)?;
                new_fn = Some((hidden(f), s));
            }
            "set_up" | "tear_down" => {
                let d = take_decorators(&mut f.attrs, &krate)?;
                if d.expected_failure || !d.skips.is_empty() {
                    return Err(syn::Error::new(f.sig.span(), "skip/skip_if/expected_failure go on test methods"));
                }
                let s = shape(f, true)?;
                let id = hidden(f);
                if name == "set_up" { set_up = Some((id, s, d)) } else { tear_down = Some((id, s, d)) }
            }
            "set_up_class" | "tear_down_class" => {
                let s = shape(f, false)?;
                let id = hidden(f);
                if name == "set_up_class" { set_up_class = Some((id, s)) } else { tear_down_class = Some((id, s)) }
            }
            n if n.starts_with("test") => {
                let d = take_decorators(&mut f.attrs, &krate)?;
                let s = shape(f, true)?;
                tests.push((f.sig.ident.clone(), s, d));
            }
            _ => {
                // A helper; decorators make no sense on it.
                for a in &f.attrs {
                    if a.path().get_ident().is_some_and(|i| DECORATORS.contains(&i.to_string().as_str())) {
                        return Err(syn::Error::new(a.span(), "unittest decorators go on `test*` methods and set_up"));
                    }
                }
            }
        }
    }

    let base = args.extends.as_ref();
    let case_ty = quote!(#krate::unittest::Case<'_>);
    let result = quote!(#krate::Result);

    let new_body = match (&new_fn, base) {
        (Some((id, s)), _) => {
            let c = call(quote!(), id, s, false);
            if s.returns_result { c } else { quote!(::std::result::Result::Ok(#c)) }
        }
        (None, Some(_)) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "a class that extends another needs `fn new(t: &Case) -> Self` building `Self { base: Base::new(t)?, … }`",
            ));
        }
        (None, None) => quote!(::std::result::Result::Ok(<Self as ::std::default::Default>::default())),
    };

    let part = |f: &Option<(Ident, Shape, Decorators)>, which: &str| -> TokenStream2 {
        match (f, base) {
            (Some((id, s, d)), _) => {
                let checks = checks_code(d);
                let c = call(quote!(self), id, s, true);
                quote!({ #checks #c })
            }
            (None, Some(b)) => {
                let m = format_ident!("{which}");
                quote!(<#b as #krate::unittest::TestCase>::#m(&mut self.base, t))
            }
            (None, None) => quote!(::std::result::Result::Ok(())),
        }
    };
    let set_up_body = part(&set_up, "set_up");
    let tear_down_body = part(&tear_down, "tear_down");

    let class_part = |f: &Option<(Ident, Shape)>, which: &str| -> TokenStream2 {
        match (f, base) {
            (Some((id, s)), _) => call(quote!(), id, s, true),
            (None, Some(b)) => {
                let m = format_ident!("{which}");
                quote!(<#b as #krate::unittest::TestCase>::#m(t))
            }
            (None, None) => quote!(::std::result::Result::Ok(())),
        }
    };
    let set_up_class_body = class_part(&set_up_class, "set_up_class");
    let tear_down_class_body = class_part(&tear_down_class, "tear_down_class");

    let own_names: Vec<String> = tests.iter().map(|(i, _, _)| i.to_string()).collect();
    let own_methods = tests.iter().map(|(ident, s, d)| {
        let name = LitStr::new(&ident.to_string(), ident.span());
        let checks = checks_code(d);
        let c = call(quote!(s), ident, s, true);
        let mut m = quote! {
            #krate::unittest::TestMethod::new(#name, |s: &mut Self, t: &#krate::unittest::Case<'_>| -> #result<()> {
                #checks #c
            })
        };
        for skip in &d.skips {
            m = quote!(#m.skip_when(|t: &#krate::unittest::Case<'_>| -> ::std::option::Option<::std::string::String> { let _ = t; #skip }));
        }
        if d.expected_failure {
            m = quote!(#m.expected_failure());
        }
        if let Some(doc) = &d.doc {
            m = quote!(#m.doc(#doc));
        }
        m
    });

    let inherited = match base {
        Some(b) => {
            let without: Vec<String> = args.without.iter().map(Ident::to_string).collect();
            quote! {
                let mut methods: ::std::vec::Vec<#krate::unittest::TestMethod<Self>> =
                    <#b as #krate::unittest::TestCase>::test_methods()
                        .into_iter()
                        .map(|m| m.inherit(|s: &mut Self| &mut s.base))
                        .collect();
                #krate::unittest::TestMethod::remove(&mut methods, &[#(#without),*], ::std::stringify!(#self_ty));
                methods.retain(|m| ![#(#own_names),*].iter().any(|own: &&str| *own == m.name()));
            }
        }
        None => {
            if let Some(w) = args.without.first() {
                return Err(syn::Error::new(w.span(), "`without` removes inherited methods: it needs `extends`"));
            }
            quote!(let mut methods: ::std::vec::Vec<#krate::unittest::TestMethod<Self>> = ::std::vec::Vec::new();)
        }
    };

    let deref = base.map(|b| {
        quote! {
            impl ::std::ops::Deref for #self_ty {
                type Target = #b;
                fn deref(&self) -> &#b {
                    &self.base
                }
            }
            impl ::std::ops::DerefMut for #self_ty {
                fn deref_mut(&mut self) -> &mut #b {
                    &mut self.base
                }
            }
        }
    });

    Ok(quote! {
        #item

        impl #krate::unittest::TestCase for #self_ty {
            fn new(t: &#case_ty) -> #result<Self> {
                let _ = t;
                #new_body
            }
            fn set_up(&mut self, t: &#case_ty) -> #result<()> {
                let _ = t;
                #set_up_body
            }
            fn tear_down(&mut self, t: &#case_ty) -> #result<()> {
                let _ = t;
                #tear_down_body
            }
            fn set_up_class(t: &#case_ty) -> #result<()> {
                let _ = t;
                #set_up_class_body
            }
            fn tear_down_class(t: &#case_ty) -> #result<()> {
                let _ = t;
                #tear_down_class_body
            }
            fn test_methods() -> ::std::vec::Vec<#krate::unittest::TestMethod<Self>> {
                #inherited
                methods.extend([#(#own_methods),*]);
                methods
            }
        }

        #deref
    })
}
