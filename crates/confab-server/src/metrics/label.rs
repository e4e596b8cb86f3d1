//! Label values. Each enum's variants are its label's values, written as exported, in table order:
//! a variant's discriminant indexes its series in [`Metrics`](super::Metrics)'s tables.

/// Declares a label's values: the enum, `ALL` in order, and each value's name.
macro_rules! label {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $value:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        $vis enum $name { $($(#[$vmeta])* $value,)* }

        impl $name {
            /// Every value, in table order.
            pub const ALL: &'static [$name] = &[$($name::$value,)*];

            /// The value as exported.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$value => stringify!($value),)* }
            }

            /// Every value as exported, in table order.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }
    };
}
pub(crate) use label;

label! {
    /// Why a request, frame or connection was refused: the `reason` of `confab_rejections_total`.
    pub enum Reason {
        bad_frame,
        unknown_op,
        frame_too_large,
        not_identified,
        already_identified,
        auth_failed,
        identify_timeout,
        heartbeat_timeout,
        rate_limited,
        too_large,
        forbidden,
        connection_limit,
        slow_consumer,
        protocol_violation,
        overloaded,
        receipt_queue_full,
    }
}

label! {
    /// What carries a connection: the `transport` label.
    pub enum Transport {
        /// A WebSocket at `/ws`.
        websocket,
        /// An HTTP session (long polling or SSE) under `/api/v1/sessions`.
        http,
    }
}

label! {
    /// Why a connection was refused with `503`.
    pub enum ConnectionRefusal {
        /// The node holds `--max-connections` already.
        limit,
        /// The node is draining (SIGTERM).
        draining,
    }
}

label! {
    /// Why an `identify` or `resume` was refused.
    pub enum SessionRefusal {
        /// Admission control: no token in the bucket (close `4006` with a retry hint).
        overloaded,
        /// The token is invalid or revoked (close `4100`).
        auth_failed,
        /// The token could not be checked: the store failed (close `4000`).
        error,
    }
}
