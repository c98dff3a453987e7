//! [`answer`]: the reply to one query from a [`Snapshot`], as CoreDNS's
//! `kubernetes` plugin gives it — or the decision to forward it. Pure: no
//! I/O, no clock.
//!
//! - Names under the cluster domain are always answered here (search-path
//!   expansions such as `example.com.default.svc.cluster.local` get
//!   NXDOMAIN, never forwarded): a name that exists without records of
//!   the asked type answers NODATA (NOERROR, no answer, the zone's SOA in
//!   authority), a name that does not exist NXDOMAIN with the SOA.
//! - `a-b-c-d.<ns>.pod.<zone>` answers the address in its name (`pods
//!   insecure`).
//! - ExternalName Services answer a CNAME; the server chases a target
//!   outside the zone through the upstreams ([`Outcome::Chase`]).
//! - PTR for addresses the snapshot knows (ClusterIPs, headless
//!   endpoints); other reverse names go upstream, as CoreDNS's
//!   `fallthrough in-addr.arpa ip6.arpa`.
//! - Every record has a TTL of 5 s; EDNS0 is answered with EDNS0.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::snapshot::{key, undashed, Node, Snapshot};

/// Every record's TTL (CoreDNS's default for the kubernetes plugin).
pub const TTL: u32 = 5;

/// The UDP payload size we announce with EDNS0.
pub const EDNS_PAYLOAD: u16 = 1232;

/// What to do with a query.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply.
    Reply(Message),
    /// Not ours: send the query to the upstreams as it came.
    Forward,
    /// Send `reply` after appending the upstreams' answers for `target`
    /// (an ExternalName's CNAME pointing outside the zone) of type
    /// `qtype`.
    Chase {
        reply: Message,
        target: Name,
        qtype: RecordType,
    },
}

/// A reply to `request` with its id, question, flags and EDNS, no
/// records, the given response code.
pub fn reply_to(request: &Message, code: ResponseCode) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(request.checking_disabled())
        .set_response_code(code);
    reply.add_queries(request.queries().iter().cloned());
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_version(0);
        reply.set_edns(edns);
    }
    reply
}

/// The reply to `request` from `snap`, or what else to do with it.
pub fn answer(request: &Message, snap: &Snapshot) -> Outcome {
    if request.message_type() != MessageType::Query {
        return Outcome::Reply(reply_to(request, ResponseCode::FormErr));
    }
    if request.op_code() != OpCode::Query {
        return Outcome::Reply(reply_to(request, ResponseCode::NotImp));
    }
    let [query] = request.queries() else {
        return Outcome::Reply(reply_to(request, ResponseCode::FormErr));
    };
    let k = key(query.name());
    if snap.in_zone(&k) {
        let reply = answer_in_zone(request, query, &k, snap);
        return match chase_target(&reply, snap) {
            Some((target, qtype)) => Outcome::Chase {
                reply,
                target,
                qtype,
            },
            None => Outcome::Reply(reply),
        };
    }
    if query.query_type() == RecordType::PTR || query.query_type() == RecordType::ANY {
        if let Some(target) = reverse_ip(&k).and_then(|ip| snap.ptr.get(&ip)) {
            let mut reply = reply_to(request, ResponseCode::NoError);
            reply.set_authoritative(true);
            reply.add_answer(record(query.name(), RData::PTR(PTR(target.clone()))));
            return Outcome::Reply(reply);
        }
    }
    Outcome::Forward
}

fn record(name: &Name, rdata: RData) -> Record {
    Record::from_rdata(name.clone(), TTL, rdata)
}

fn soa(snap: &Snapshot) -> Record {
    Record::from_rdata(
        snap.zone_name.clone(),
        TTL,
        RData::SOA(SOA::new(
            snap.ns_name.clone(),
            snap.hostmaster.clone(),
            snap.serial,
            7200,
            1800,
            86400,
            TTL,
        )),
    )
}

/// The reply for a name under the zone.
fn answer_in_zone(request: &Message, query: &Query, k: &str, snap: &Snapshot) -> Message {
    if !snap.synced {
        return reply_to(request, ResponseCode::ServFail);
    }
    if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
        return reply_to(request, ResponseCode::Refused);
    }
    let qtype = query.query_type();
    let name = query.name();
    let mut reply = reply_to(request, ResponseCode::NoError);
    reply.set_authoritative(true);
    let node = snap.get(k);
    match node {
        Some(node) => {
            add_records(&mut reply, name, node, qtype, snap, k);
        }
        None => match pod_address(k, snap) {
            Some(ip) => add_ip(&mut reply, name, ip, qtype),
            None => {
                reply.set_response_code(ResponseCode::NXDomain);
                reply.add_name_server(soa(snap));
                return reply;
            }
        },
    }
    if reply.answers().is_empty() {
        // NODATA.
        reply.add_name_server(soa(snap));
    }
    reply
}

fn wants(qtype: RecordType, t: RecordType) -> bool {
    qtype == t || qtype == RecordType::ANY
}

fn add_ip(reply: &mut Message, name: &Name, ip: IpAddr, qtype: RecordType) {
    match ip {
        IpAddr::V4(v4) if wants(qtype, RecordType::A) => {
            reply.add_answer(record(name, RData::A(A(v4))));
        }
        IpAddr::V6(v6) if wants(qtype, RecordType::AAAA) => {
            reply.add_answer(record(name, RData::AAAA(AAAA(v6))));
        }
        _ => {}
    }
}

fn add_records(
    reply: &mut Message,
    name: &Name,
    node: &Node,
    qtype: RecordType,
    snap: &Snapshot,
    k: &str,
) {
    if let Some(target) = &node.cname {
        reply.add_answer(record(name, RData::CNAME(CNAME(target.clone()))));
        if qtype != RecordType::CNAME {
            // A target inside the zone is answered here too.
            let tk = key(target);
            if snap.in_zone(&tk) {
                if let Some(tnode) = snap.get(&tk) {
                    if tnode.cname.is_none() {
                        add_records(reply, target, tnode, qtype, snap, &tk);
                    }
                }
            }
        }
        return;
    }
    if wants(qtype, RecordType::A) {
        for ip in &node.a {
            reply.add_answer(record(name, RData::A(A(*ip))));
        }
    }
    if wants(qtype, RecordType::AAAA) {
        for ip in &node.aaaa {
            reply.add_answer(record(name, RData::AAAA(AAAA(*ip))));
        }
    }
    if wants(qtype, RecordType::SRV) && !node.srv.is_empty() {
        let weight = (100 / node.srv.len()).max(1) as u16;
        for srv in &node.srv {
            reply.add_answer(record(
                name,
                RData::SRV(SRV::new(0, weight, srv.port, srv.target.clone())),
            ));
        }
        // The targets' addresses, once each.
        let mut seen: Vec<&Name> = Vec::new();
        for srv in &node.srv {
            if seen.contains(&&srv.target) {
                continue;
            }
            seen.push(&srv.target);
            if let Some(t) = snap.get(&key(&srv.target)) {
                for ip in &t.a {
                    reply.add_additional(record(&srv.target, RData::A(A(*ip))));
                }
                for ip in &t.aaaa {
                    reply.add_additional(record(&srv.target, RData::AAAA(AAAA(*ip))));
                }
            }
        }
    }
    if wants(qtype, RecordType::TXT) {
        if let Some(txt) = &node.txt {
            reply.add_answer(record(name, RData::TXT(TXT::new(vec![txt.clone()]))));
        }
    }
    if k == snap.zone {
        if wants(qtype, RecordType::SOA) {
            reply.add_answer(soa(snap));
        }
        if wants(qtype, RecordType::NS) {
            reply.add_answer(record(name, RData::NS(NS(snap.ns_name.clone()))));
        }
    }
}

/// `a-b-c-d.<ns>.pod.<zone>`: the address in the name.
fn pod_address(k: &str, snap: &Snapshot) -> Option<IpAddr> {
    let rest = k.strip_suffix(snap.zone.as_str())?.strip_suffix(".pod.")?;
    let (label, ns) = rest.split_once('.')?;
    if ns.is_empty() || ns.contains('.') {
        return None;
    }
    undashed(label)
}

/// The address of a reverse name (`4.3.2.1.in-addr.arpa`, nibbles under
/// `ip6.arpa`), if it names a whole one.
pub fn reverse_ip(k: &str) -> Option<IpAddr> {
    if let Some(rest) = k.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (i, p) in parts.iter().rev().enumerate() {
            octets[i] = p.parse().ok()?;
        }
        return Some(IpAddr::from(octets));
    }
    let rest = k.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, n) in nibbles.iter().rev().enumerate() {
        let v = u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1)?;
        bytes[i / 2] |= if i % 2 == 0 { v << 4 } else { v };
    }
    Some(IpAddr::from(bytes))
}

/// For an answered reply: a CNAME at the end whose target is outside the
/// zone, to chase upstream for an A or AAAA question.
pub fn chase_target(reply: &Message, snap: &Snapshot) -> Option<(Name, RecordType)> {
    let query = reply.queries().first()?;
    let qtype = query.query_type();
    if qtype != RecordType::A && qtype != RecordType::AAAA {
        return None;
    }
    let last = reply.answers().last()?;
    let RData::CNAME(CNAME(target)) = last.data() else {
        return None;
    };
    (!snap.in_zone(&key(target))).then(|| (target.clone(), qtype))
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
