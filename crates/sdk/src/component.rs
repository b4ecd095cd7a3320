//! The four handlers a component exports, as one trait with do-nothing defaults, and the macro
//! that wires a type implementing it to the WIT exports.
//!
//! The box runs each handler call in a fresh instance: keep state in datasources (a key-value
//! datasource of your own is the usual place), not in statics.

use crate::{Request, Response, Result};

/// An app or a driver. Implement the handlers you need and export the type with
/// [`export_component!`](crate::export_component).
///
/// ```
/// use databox_sdk::{Component, Request, Response};
///
/// struct Hello;
///
/// impl Component for Hello {
///     fn handle(request: Request) -> Response {
///         if request.is_root() {
///             Response::html("<!doctype html><title>Hello</title><p>Hello</p>")
///         } else {
///             Response::not_found()
///         }
///     }
/// }
///
/// databox_sdk::export_component!(Hello);
/// # fn main() {}
/// ```
pub trait Component {
    /// Once, when the component starts. An error is logged by the box and the component is
    /// restarted later.
    fn start() -> Result<()> {
        Ok(())
    }

    /// Every `schedule.every_seconds` of the manifest.
    fn on_timer() -> Result<()> {
        Ok(())
    }

    /// New points of a datasource the component observes
    /// ([`Datasource::observe`](crate::Datasource::observe)): `event` is the JSON an observe
    /// stream gives.
    fn on_data(datasource: &str, event: &str) -> Result<()> {
        let _ = (datasource, event);
        Ok(())
    }

    /// An HTTP request to the component's pages (apps with `ui = true`) or push endpoint.
    fn handle(request: Request) -> Response {
        let _ = request;
        Response::not_found()
    }
}

/// Exports a type implementing [`Component`] as the component's handlers. Use it once, at the
/// top level of the component's crate. Outside WebAssembly it only type-checks the wiring, so
/// the crate still builds and tests natively.
///
/// ```
/// struct Quiet;
/// impl databox_sdk::Component for Quiet {}
/// databox_sdk::export_component!(Quiet);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_component {
    ($ty:ty) => {
        const _: () = {
            use $crate::bindings::exports::databox::component::handlers::{
                Guest as __Guest, Request as __Request, Response as __Response,
            };

            struct __DataboxComponent;

            impl __Guest for __DataboxComponent {
                fn start() -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::start::<$ty>()
                }

                fn on_timer() -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::on_timer::<$ty>()
                }

                fn on_data(
                    datasource: ::std::string::String,
                    event: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::on_data::<$ty>(datasource, event)
                }

                fn handle(req: __Request) -> __Response {
                    $crate::__private::handle::<$ty>(req)
                }
            }

            // Only WebAssembly exports the handlers: a native build (unit tests of a component's
            // pure parts, a `cdylib` built for the host) cannot carry their symbol names. There,
            // a kept table of the handlers stands in, so the component's code counts as used.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_all!(
                __DataboxComponent with_types_in $crate::bindings
            );
            #[cfg(not(target_arch = "wasm32"))]
            #[used]
            static __DATABOX_HANDLERS: $crate::__private::Handlers = $crate::__private::Handlers {
                start: <__DataboxComponent as __Guest>::start,
                on_timer: <__DataboxComponent as __Guest>::on_timer,
                on_data: <__DataboxComponent as __Guest>::on_data,
                handle: <__DataboxComponent as __Guest>::handle,
            };
        };
    };
}

/// What [`export_component!`](crate::export_component) expands to call; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::Component;
    use crate::bindings::exports::databox::component::handlers as wit;

    /// The handlers as plain functions (what a native build keeps instead of exports).
    pub struct Handlers {
        pub start: fn() -> Result<(), String>,
        pub on_timer: fn() -> Result<(), String>,
        pub on_data: fn(String, String) -> Result<(), String>,
        pub handle: fn(wit::Request) -> wit::Response,
    }

    pub fn start<C: Component>() -> Result<(), String> {
        C::start().map_err(|e| e.to_string())
    }

    pub fn on_timer<C: Component>() -> Result<(), String> {
        C::on_timer().map_err(|e| e.to_string())
    }

    pub fn on_data<C: Component>(datasource: String, event: String) -> Result<(), String> {
        C::on_data(&datasource, &event).map_err(|e| e.to_string())
    }

    pub fn handle<C: Component>(req: wit::Request) -> wit::Response {
        C::handle(req.into()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    struct Defaults;
    impl Component for Defaults {}

    struct Failing;
    impl Component for Failing {
        fn on_timer() -> Result<()> {
            Err(Error::Denied("no grant".into()))
        }
        fn handle(request: Request) -> Response {
            Response::text(200, request.path().to_owned())
        }
    }

    #[test]
    fn defaults_do_nothing_and_answer_404() {
        assert_eq!(__private::start::<Defaults>(), Ok(()));
        assert_eq!(__private::on_timer::<Defaults>(), Ok(()));
        assert_eq!(__private::on_data::<Defaults>("a".into(), "{}".into()), Ok(()));
        let req = wit_request("/x");
        assert_eq!(__private::handle::<Defaults>(req).status, 404);
    }

    #[test]
    fn errors_reach_the_box_as_their_message() {
        assert_eq!(__private::on_timer::<Failing>(), Err("denied: no grant".into()));
        let resp = __private::handle::<Failing>(wit_request("/echo"));
        assert_eq!((resp.status, resp.body), (200, b"/echo".to_vec()));
    }

    fn wit_request(path: &str) -> crate::bindings::exports::databox::component::handlers::Request {
        crate::bindings::exports::databox::component::handlers::Request {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body: vec![],
        }
    }
}
