//! An event a pure decision asks for (the volume controllers decide
//! without I/O): type, reason and message, recorded by the code that
//! applies the decision.

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ev {
    pub(crate) warning: bool,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Ev {
    pub(crate) fn normal(reason: &'static str, message: String) -> Self {
        Ev {
            warning: false,
            reason,
            message,
        }
    }

    pub(crate) fn warning(reason: &'static str, message: String) -> Self {
        Ev {
            warning: true,
            reason,
            message,
        }
    }

    /// Records the event on `obj` through `recorder`.
    pub(crate) fn record<K: kube::Resource<DynamicType = ()>>(
        &self,
        recorder: &rkube_events::Recorder,
        obj: &K,
    ) {
        if self.warning {
            recorder.warning(obj, self.reason, &self.message);
        } else {
            recorder.normal(obj, self.reason, &self.message);
        }
    }
}
