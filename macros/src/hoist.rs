//! Arguments before receivers, in the methods of a class that extends
//! another.
//!
//! A subclass reaches its base's fields through `Deref`/`DerefMut`, so in
//! `self.vm.cmd("eject", kwargs! { id: self.device_name })` the receiver
//! `self.vm` borrows the whole of `self` mutably (`deref_mut`) before the
//! arguments read `self.device_name` through `deref`: the borrow checker
//! refuses what Python (`self.vm.cmd('eject', id=self.device_name)`) writes
//! without a second thought. Rewriting such a call as
//!
//! ```text
//! match ("eject", kwargs! { id: self.device_name }) {
//!     (a0, a1) => self.vm.cmd(a0, a1),
//! }
//! ```
//!
//! evaluates the arguments first, then borrows the receiver. That changes
//! nothing else: the receiver is a place (`self`, `self.a.b`), whose
//! evaluation is only `Deref` calls, which have no effects; the arguments
//! still run in their order, and their temporaries live to the end of the
//! call as before (a `match` scrutinee's temporaries live to the end of the
//! `match`).
//!
//! Only calls that need it are rewritten: a receiver that is such a place,
//! and an argument that mentions `self`. A call whose arguments hold a
//! closure (any `|`) is left alone, as a closure's parameter types come from
//! the method's signature only when it is written in the call. Macro
//! arguments (`assert_equal!(self.vm.f(self.x), …)`) are rewritten when they
//! parse as a list of expressions.

use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, format_ident};
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ImplItem, ItemImpl, Macro, Token};

/// Rewrite the calls of every method of `item` (see the module docs).
pub(crate) fn hoist_arguments(item: &mut ItemImpl) {
    for it in &mut item.items {
        if let ImplItem::Fn(f) = it {
            Hoist.visit_block_mut(&mut f.block);
        }
    }
}

struct Hoist;

impl VisitMut for Hoist {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // Inner calls first: an argument may itself be such a call.
        visit_mut::visit_expr_mut(self, e);
        let Expr::MethodCall(call) = e else { return };
        if call.args.is_empty()
            || !is_self_place(&call.receiver)
            || !call.args.iter().any(|a| mentions_self(a.to_token_stream()))
            || call.args.iter().any(|a| has_pipe(a.to_token_stream()))
        {
            return;
        }
        // Mixed-site hygiene: the user's code cannot see (or clash with)
        // these names, nested rewrites included.
        let names: Vec<_> =
            (0..call.args.len()).map(|i| format_ident!("__iotests_arg{}", i, span = Span::mixed_site())).collect();
        let args: Vec<Expr> = std::mem::take(&mut call.args).into_iter().collect();
        call.args = names.iter().map(|n| -> Expr { syn::parse_quote!(#n) }).collect();
        let call = &*call;
        *e = syn::parse_quote! {
            match (#(#args,)*) {
                (#(#names,)*) => #call,
            }
        };
    }

    fn visit_macro_mut(&mut self, m: &mut Macro) {
        if !mentions_self(m.tokens.clone()) {
            return;
        }
        let Ok(mut exprs) = m.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else { return };
        let before = exprs.to_token_stream().to_string();
        for e in exprs.iter_mut() {
            self.visit_expr_mut(e);
        }
        let after = exprs.to_token_stream();
        if after.to_string() != before {
            m.tokens = after;
        }
    }
}

/// `self`, `self.a`, `self.a.b`, `(self.a)`: a place whose evaluation
/// calls nothing but `Deref`.
fn is_self_place(e: &Expr) -> bool {
    match e {
        Expr::Path(p) => p.qself.is_none() && p.path.is_ident("self"),
        Expr::Field(f) => is_self_place(&f.base),
        Expr::Paren(p) => is_self_place(&p.expr),
        _ => false,
    }
}

fn mentions_self(ts: TokenStream2) -> bool {
    ts.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "self",
        TokenTree::Group(g) => mentions_self(g.stream()),
        _ => false,
    })
}

/// A `|` anywhere: a closure (or an `|`/`||` operator, which only makes the
/// rewrite more cautious than it needs to be).
fn has_pipe(ts: TokenStream2) -> bool {
    ts.into_iter().any(|tt| match tt {
        TokenTree::Punct(p) => p.as_char() == '|',
        TokenTree::Group(g) => has_pipe(g.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn rewrite(code: TokenStream2) -> String {
        let mut item: ItemImpl = syn::parse2(quote!(impl C { fn f(&mut self) { #code } })).unwrap();
        hoist_arguments(&mut item);
        let ImplItem::Fn(f) = &item.items[0] else { unreachable!() };
        f.block.to_token_stream().to_string()
    }

    #[test]
    fn arguments_that_read_self_are_evaluated_first() {
        let out = rewrite(quote!(self.vm.cmd("eject", kwargs! { id: self.device_name })?;));
        assert!(out.contains("match (\"eject\" , kwargs ! { id : self . device_name } ,)"), "{out}");
        assert!(out.contains("self . vm . cmd (__iotests_arg0 , __iotests_arg1)"), "{out}");
    }

    #[test]
    fn other_calls_are_left_alone() {
        for code in [
            quote!(self.vm.cmd("eject", kwargs! { id: "x" });),
            quote!(self.vm.launch();),
            quote!(vm.cmd("x", self.y);),
            quote!(self.vm.qmp("x", ()).unwrap().get(self.k);),
            quote!(self.vm.run(|vm| vm.f(self.y));),
            quote!(self.v[0].f(self.y);),
        ] {
            let out = rewrite(code);
            assert!(!out.contains("__iotests_arg"), "{out}");
        }
    }

    #[test]
    fn macro_arguments_and_nested_calls() {
        let out = rewrite(quote!(assert_equal!(self.vm.f(self.x.g(self.y)), 1);));
        assert_eq!(out.matches("match").count(), 2, "{out}");
        let out = rewrite(quote!(t.log(format!("{}", self.x));));
        assert!(!out.contains("match"), "{out}");
    }
}
