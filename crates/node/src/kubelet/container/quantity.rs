//! Reading a container's requests and limits as numbers (thousandths for
//! CPU, whole units for the rest), with the API's quantity rules.

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use rkube_apimachinery::quantity::parse_milli;

/// Which side of `resources` to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Request,
    Limit,
}

/// A quantity in thousandths of its unit (`500m` → 500, `1Ki` → 1,024,000).
pub fn milli(q: &Quantity) -> Option<i128> {
    parse_milli(&q.0)
}

/// A quantity in whole units, rounded up (`1500m` → 2, `1Ki` → 1024).
pub fn value(q: &Quantity) -> Option<i128> {
    milli(q).map(|m| ceil_div(m, 1000))
}

/// `a / b` rounded towards positive infinity (`b` > 0).
pub fn ceil_div(a: i128, b: i128) -> i128 {
    if b <= 0 {
        return 0;
    }
    let q = a / b;
    if a % b > 0 {
        q + 1
    } else {
        q
    }
}

fn get<'a>(c: &'a Container, which: Limit, name: &str) -> Option<&'a Quantity> {
    let r = c.resources.as_ref()?;
    let map = match which {
        Limit::Request => r.requests.as_ref(),
        Limit::Limit => r.limits.as_ref(),
    }?;
    map.get(name)
}

/// The container's request or limit of `name` in thousandths.
pub fn container_milli(c: &Container, which: Limit, name: &str) -> Option<i128> {
    get(c, which, name).and_then(milli)
}

/// The container's request or limit of `name` in whole units.
pub fn container_value(c: &Container, which: Limit, name: &str) -> Option<i128> {
    get(c, which, name).and_then(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(milli(&Quantity("250m".into())), Some(250));
        assert_eq!(value(&Quantity("1500m".into())), Some(2));
        assert_eq!(value(&Quantity("64Mi".into())), Some(64 << 20));
        assert_eq!(ceil_div(-5, 2), -2);
    }
}
